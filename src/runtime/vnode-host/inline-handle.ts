// A vnode host run on the main thread (`vnodeHost: 'main-thread'`). Requests go straight into the
// host's mailboxes and its replies straight to the coordinators: no batch to pack, no postMessage,
// no thread to wake, which on a machine with few cores is a large share of a request's cost (see
// docs/decisions.md). The host code is the same one a worker thread runs (host.ts); what is lost
// is isolation: a host that throws takes the node down, where a worker would be restarted.

import type { Logger } from 'pino';
import type { VnodeRequest } from '../../core/messages.js';
import type { RecoveryReport } from '../storage/worker-store.js';
import { VnodeHost } from './host.js';
import type { WorkerControl, WorkerInit } from './protocol.js';
import { type ControlPlane, HostHandle, type WorkerHandleEvents } from './worker-handle.js';

/**
 * The control plane with a worker's semantics: every call answers a promise, and arguments and
 * results are copies (as comlink's structured clone makes them), so no caller ever shares state
 * with the host's trees or stores.
 */
function controlPlaneOf(control: WorkerControl): ControlPlane {
  const plane: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of Object.keys(control) as (keyof WorkerControl)[]) {
    const method = control[name] as (...args: unknown[]) => unknown;
    plane[name] = async (...args: unknown[]) => structuredClone(await method(...structuredClone(args)));
  }
  return plane as unknown as ControlPlane;
}

export class InlineHandle extends HostHandle {
  private host: VnodeHost | undefined;
  private plane: ControlPlane | undefined;
  private closed = false;
  readonly ready: Promise<RecoveryReport>;

  constructor(init: WorkerInit, inflightMax: number, events: WorkerHandleEvents, log: Logger) {
    super(init, inflightMax, events);
    this.ready = VnodeHost.open(
      init,
      {
        replies: (replies) => {
          for (const reply of replies) this.settle(reply);
        },
        storageFailed: (reason) => this.events.onStorageFailed(reason),
        drained: () => this.events.onDrained?.(),
      },
      log.child({ vnodeHost: init.workerIndex }),
    ).then(async (host) => {
      this.host = host;
      this.plane = controlPlaneOf(host.control);
      await host.ready;
      this.state = 'ready';
      this.actorIds = host.actorIds;
      return host.recovery;
    });
    // A start-up failure is reported through onExit; keep the rejection from being unhandled.
    this.ready.catch((error: Error) => {
      this.state = 'dead';
      this.events.onExit(error);
    });
  }

  protected get control(): ControlPlane {
    if (this.plane === undefined) throw new Error(`vnode host ${this.init.workerIndex} is still starting`);
    return this.plane;
  }

  protected deliver(request: VnodeRequest): void {
    this.host!.receiveOne(request);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A host still opening its store finishes first, so that nothing is left open behind the node.
    await this.ready.catch(() => undefined);
    this.state = 'closing';
    try {
      await this.host?.control.close();
    } finally {
      this.state = 'dead';
    }
  }

  kill(): Promise<void> {
    return Promise.reject(new Error('a vnode host on the main thread cannot be killed apart from its node (vnodeHost: main-thread)'));
  }
}

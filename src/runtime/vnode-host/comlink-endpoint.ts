// Comlink's Node adapter, typed. The package ships it as a UMD module whose default export is
// the function at run time, while its type declarations describe an ES default export; this one
// cast keeps that mismatch out of the files that use it.

import type { MessagePort } from 'node:worker_threads';
import type { Endpoint } from 'comlink';
import adapterModule from 'comlink/dist/umd/node-adapter.js';

type NodeEndpointFn = (port: MessagePort) => Endpoint;

export const nodeEndpoint = adapterModule as unknown as NodeEndpointFn;

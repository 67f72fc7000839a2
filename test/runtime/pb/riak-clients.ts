// Promise wrappers over the two npm Riak clients the protobuf API is tested with:
// basho-riak-client (Basho's official Node client, callback style) and no-riak (promise style).
// Both are untyped CommonJS, so only the calls the tests make are described here.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

type Callback<T> = (error: unknown, result: T) => void;

export interface BashoRiakObject {
  readonly value: Buffer;
  readonly contentType: string;
  readonly vclock: Buffer;
  readonly isTombstone?: boolean;
  readonly userMeta?: ReadonlyArray<{ key: string; value: string }>;
}

export interface BashoFetchResult {
  readonly isNotFound: boolean;
  readonly isUnchanged: boolean;
  readonly vclock: Buffer | null;
  readonly values: readonly BashoRiakObject[];
}

export interface BashoStoreResult {
  readonly generatedKey: string | null;
  readonly vclock: Buffer | null;
  readonly values: readonly BashoRiakObject[];
}

interface BashoClientRaw {
  ping(cb: Callback<boolean>): void;
  fetchServerInfo(cb: Callback<{ node: string; server_version: string }>): void;
  storeValue(options: object, cb: Callback<BashoStoreResult>): void;
  fetchValue(options: object, cb: Callback<BashoFetchResult>): void;
  deleteValue(options: object, cb: Callback<boolean>): void;
  listKeys(options: object, cb: Callback<{ keys: string[]; done: boolean }>): void;
  listBuckets(options: object, cb: Callback<{ buckets: string[]; done: boolean }>): void;
  fetchBucketProps(options: object, cb: Callback<Record<string, unknown>>): void;
  fetchBucketTypeProps(options: object, cb: Callback<Record<string, unknown>>): void;
  storeBucketProps(options: object, cb: Callback<boolean>): void;
  resetBucketProps(options: object, cb: Callback<boolean>): void;
  fetchPreflist(options: object, cb: Callback<{ preflist: Array<{ partition: number; node: string; primary: boolean }> }>): void;
  fetchCounter(options: object, cb: Callback<unknown>): void;
  updateCounter(options: object, cb: Callback<{ counterValue?: number }>): void;
  fetchSet(options: object, cb: Callback<{ values: string[]; context: Buffer | null; isNotFound: boolean }>): void;
  updateSet(options: object, cb: Callback<{ values?: string[]; context?: Buffer }>): void;
  stop(cb: Callback<unknown>): void;
}

interface RiakObjectRaw {
  setValue(value: unknown): RiakObjectRaw;
  setContentType(contentType: string): RiakObjectRaw;
  setUserMeta(userMeta: ReadonlyArray<{ key: string; value: string }>): RiakObjectRaw;
}

const Riak = require('basho-riak-client') as {
  Client: new (nodes: string[], cb: Callback<unknown>) => BashoClientRaw;
  Commands: { KV: { RiakObject: new () => RiakObjectRaw } };
};

/** A basho RiakObject: the way to store a value with a content type and user metadata. */
export function bashoObject(value: string, contentType: string, userMeta: ReadonlyArray<{ key: string; value: string }>): unknown {
  return new Riak.Commands.KV.RiakObject().setValue(value).setContentType(contentType).setUserMeta(userMeta);
}

function call<T>(run: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => run((error, result) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result))));
}

/** basho-riak-client, one method per command, rejecting with the errmsg text. */
export class BashoClient {
  private constructor(private readonly raw: BashoClientRaw) {}

  static async connect(address: string): Promise<BashoClient> {
    let raw!: BashoClientRaw;
    await new Promise<void>((resolve, reject) => {
      raw = new Riak.Client([address], (error) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve()));
    });
    return new BashoClient(raw);
  }

  ping = () => call<boolean>((cb) => this.raw.ping(cb));
  serverInfo = () => call<{ node: string; server_version: string }>((cb) => this.raw.fetchServerInfo(cb));
  store = (options: object) => call<BashoStoreResult>((cb) => this.raw.storeValue(options, cb));
  fetch = (options: object) => call<BashoFetchResult>((cb) => this.raw.fetchValue(options, cb));
  delete = (options: object) => call<boolean>((cb) => this.raw.deleteValue(options, cb));
  listKeys = (options: object) => call<{ keys: string[] }>((cb) => this.raw.listKeys({ stream: false, ...options }, cb));
  listBuckets = (options: object) => call<{ buckets: string[] }>((cb) => this.raw.listBuckets({ stream: false, ...options }, cb));
  bucketProps = (options: object) => call<Record<string, unknown>>((cb) => this.raw.fetchBucketProps(options, cb));
  bucketTypeProps = (options: object) => call<Record<string, unknown>>((cb) => this.raw.fetchBucketTypeProps(options, cb));
  storeBucketProps = (options: object) => call<boolean>((cb) => this.raw.storeBucketProps(options, cb));
  resetBucketProps = (options: object) => call<boolean>((cb) => this.raw.resetBucketProps(options, cb));
  preflist = (options: object) => call<{ preflist: Array<{ partition: number; node: string; primary: boolean }> }>((cb) => this.raw.fetchPreflist(options, cb));
  fetchCounter = (options: object) => call<unknown>((cb) => this.raw.fetchCounter(options, cb));
  updateCounter = (options: object) => call<{ counterValue?: number }>((cb) => this.raw.updateCounter(options, cb));
  fetchSet = (options: object) => call<{ values: string[]; context: Buffer | null; isNotFound: boolean }>((cb) => this.raw.fetchSet(options, cb));
  updateSet = (options: object) => call<{ values?: string[]; context?: Buffer }>((cb) => this.raw.updateSet(options, cb));
  stop = () => call<unknown>((cb) => this.raw.stop(cb));
}

export interface NoRiakContent {
  readonly value: Buffer | string | object;
  readonly content_type?: string;
  readonly vtag?: string;
  readonly last_mod?: number;
  readonly usermeta?: ReadonlyArray<{ key: string; value: string }>;
}

export interface NoRiakGetResult {
  readonly content?: readonly NoRiakContent[];
  /** base64 text: no-riak converts the vclock for the caller. */
  readonly vclock?: string;
  readonly unchanged?: boolean;
}

/** no-riak's Client: every call returns a promise; errors are RiakError with the errmsg as message. */
export interface NoRiakClient {
  ping(): Promise<unknown>;
  getServerInfo(): Promise<{ node: string; server_version: string }>;
  get(params: object): Promise<NoRiakGetResult | null>;
  put(params: object): Promise<(NoRiakGetResult & { key?: string }) | null>;
  del(params: object): Promise<unknown>;
  listKeys(params: object): Promise<string[]>;
  listBuckets(params?: object): Promise<string[]>;
  getBucket(params: object): Promise<Record<string, unknown>>;
  setBucket(params: object): Promise<unknown>;
  getCounter(params: object): Promise<unknown>;
  updateCounter(params: object): Promise<unknown>;
  dtFetch(params: object): Promise<unknown>;
  end(): Promise<unknown>;
}

const NoRiak = require('no-riak') as { Client: new (options: object) => NoRiakClient };

export function noRiakClientClass(): new (options: object) => NoRiakClient {
  return NoRiak.Client;
}

export function noRiakClient(address: string): NoRiakClient {
  return new NoRiak.Client({ connectionString: address, autoJSON: false, retries: 0 });
}

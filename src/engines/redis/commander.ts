import type { Redis } from 'ioredis';
import type { RedisClientType } from 'redis';

export type RespArg = string | Buffer | number;

/**
 * The few things kubecache's own seed, reset and data-keeping code needs
 * from a redis-protocol client, so that code runs unchanged over the client
 * the test chose (ioredis or node-redis).
 */
export interface RespCommander {
  /** host:port, for error messages. */
  readonly where: string;
  call(args: RespArg[]): Promise<unknown>;
  /**
   * Sends the commands in one round trip; each gets its reply or its error.
   * With `buffers`, bulk string replies come back as Buffers (DUMP payloads).
   */
  batch(
    commands: RespArg[][],
    opts?: { buffers?: boolean },
  ): Promise<Array<[Error | null, unknown]>>;
}

export function ioredisCommander(client: Redis): RespCommander {
  const { host, port } = client.options;
  return {
    where: `${host}:${port}`,
    call: ([command, ...args]) => client.call(String(command), args),
    async batch(commands, opts = {}) {
      if (commands.length === 0) return [];
      const pipeline = client.pipeline();
      for (const [command, ...args] of commands) {
        if (opts.buffers) pipeline.callBuffer(String(command), args);
        else pipeline.call(String(command), args);
      }
      return ((await pipeline.exec()) ?? []) as Array<[Error | null, unknown]>;
    },
  };
}

/** node-redis pipelines commands sent in the same tick by itself. */
export function nodeRedisCommander(
  client: NodeRedisClient,
  where: string,
  /** node-redis's RESP_TYPES.BLOB_STRING, from the module the client came from. */
  blobStringType: number,
): RespCommander {
  const buffers = client.withTypeMapping({ [blobStringType]: Buffer });
  const argv = (args: RespArg[]) => args.map((a) => (typeof a === 'number' ? String(a) : a));
  return {
    where,
    call: (args) => client.sendCommand(argv(args)),
    async batch(commands, opts = {}) {
      const target = opts.buffers ? buffers : client;
      const settled = await Promise.allSettled(commands.map((c) => target.sendCommand(argv(c))));
      return settled.map((r) =>
        r.status === 'fulfilled' ? [null, r.value] : [toError(r.reason), undefined],
      );
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: node-redis's client type is generic over modules and scripts
export type NodeRedisClient = RedisClientType<any, any, any, any, any>;

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

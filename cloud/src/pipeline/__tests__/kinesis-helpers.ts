/** Kinesis helpers for the pipeline tests: put raw payloads in order, read what a stream holds. */
import { setTimeout as delay } from 'node:timers/promises';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { PipelineEvent } from '@xp/shared';

/** Puts payloads (events, or poison bytes) in order, 500 per call; returns the last sequence number per shard. */
export async function putAll(client: KinesisClient, stream: string, payloads: readonly (PipelineEvent | Uint8Array)[]): Promise<Map<string, string>> {
  const last = new Map<string, string>();
  for (let i = 0; i < payloads.length; i += 500) {
    const chunk = payloads.slice(i, i + 500);
    const out = await client.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: chunk.map((p, k) =>
          p instanceof Uint8Array
            ? { Data: p, PartitionKey: `poison-${i + k}` }
            : { Data: new TextEncoder().encode(JSON.stringify(p)), PartitionKey: p.event.unitId },
        ),
      }),
    );
    if ((out.FailedRecordCount ?? 0) > 0) {
      throw new Error(`kinesalite rejected ${out.FailedRecordCount} records`);
    }
    for (const r of out.Records ?? []) {
      if (r.ShardId !== undefined && r.SequenceNumber !== undefined) {
        const prev = last.get(r.ShardId);
        if (prev === undefined || BigInt(prev) < BigInt(r.SequenceNumber)) {
          last.set(r.ShardId, r.SequenceNumber);
        }
      }
    }
  }
  return last;
}

/**
 * Polls `check` every 20 ms until it returns true or `timeoutMs` passes (then throws with `what`). A
 * check that throws (its connection was just terminated, say) counts as "not yet".
 */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await delay(20);
  }
}

/** A sleep for pollers under test: honours the signal, caps waits at a few ms. */
export async function quickSleep(ms: number, signal: AbortSignal): Promise<void> {
  await delay(Math.min(ms, 5), undefined, { signal }).catch(() => undefined);
}

/**
 * The raw event archive read straight from the bucket Kinesis Data Firehose writes
 * (`s3://<bucket>/<prefix>year=YYYY/month=MM/day=DD/hour=HH/<object>.gz`), for `xp replay`.
 * Credentials and region come from the AWS SDK's default chain (AWS_PROFILE, AWS_REGION…);
 * `S3_ENDPOINT` points it at another S3-compatible endpoint (path-style).
 */
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { GetObjectCommandOutput, ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { AppError, AppErrorCode } from '../errors.js';
import type { ArchiveSource } from './event-archive.js';
import { parseArchiveObject, partitionsBetween } from './event-archive.js';

/** The two calls the reader makes; an S3Client satisfies it. */
export interface S3Reader {
  send(command: ListObjectsV2Command): Promise<Pick<ListObjectsV2CommandOutput, 'Contents' | 'NextContinuationToken' | 'IsTruncated'>>;
  send(command: GetObjectCommand): Promise<Pick<GetObjectCommandOutput, 'Body'>>;
}

/** Bucket and key prefix of an `s3://bucket/prefix` URL; the prefix ends with "/" (or is empty). */
export function parseS3Url(url: string): { readonly bucket: string; readonly prefix: string } {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (match === null) {
    throw new AppError(AppErrorCode.Validation, `"${url}" is not an s3://bucket/prefix URL`);
  }
  const prefix = match[2] ?? '';
  return { bucket: match[1]!, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
}

export function s3ClientFromEnv(env: NodeJS.ProcessEnv): S3Client {
  const endpoint = env.S3_ENDPOINT;
  return new S3Client(endpoint === undefined || endpoint === '' ? {} : { endpoint, forcePathStyle: true });
}

/** The archive under `url` (the bucket's `archive/events/` prefix, as the CDK app lays it out). */
export function s3Archive(url: string, client: S3Reader): ArchiveSource {
  const { bucket, prefix } = parseS3Url(url);
  return {
    location: url,
    async objects(from, to) {
      const keys: string[] = [];
      for (const partition of partitionsBetween(from, to)) {
        let token: string | undefined;
        const found: string[] = [];
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}${partition}/`, ...(token === undefined ? {} : { ContinuationToken: token }) }));
          found.push(...(page.Contents ?? []).flatMap((o) => (o.Key !== undefined && o.Key.endsWith('.gz') ? [o.Key] : [])));
          token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
        } while (token !== undefined);
        // Firehose names objects by delivery time, so name order is arrival order within an hour.
        keys.push(...found.sort());
      }
      return keys;
    },
    async lines(key) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (out.Body === undefined) {
        return [{ ok: false, reason: 'empty object', file: `s3://${bucket}/${key}` }];
      }
      return parseArchiveObject(await out.Body.transformToByteArray(), `s3://${bucket}/${key}`);
    },
  };
}

/** Standard input for the CLI's commands (`xp apply -`, `xp login --email` with a piped password). */

/**
 * Standard input read whole, stopping once more than `limit` bytes arrived: the bytes read (more than
 * `limit` of them when it was too long, so the caller can say so without reading the rest).
 */
export async function readStdinBytes(stdin: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(bytes);
    size += bytes.length;
    if (size > limit) {
      break;
    }
  }
  return Buffer.concat(chunks);
}

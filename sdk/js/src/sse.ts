/** One server-sent event. */
export interface SseMessage {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

/**
 * Incremental text/event-stream parser (the WHATWG algorithm, minus reconnection): feed it decoded
 * text as it arrives; it calls `onMessage` for each dispatched event. Comments (heartbeats) have an
 * empty field name, which is ignored like any unknown field; a heartbeat's chunk still resets the
 * reader's idle timer.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;

  constructor(private readonly onMessage: (message: SseMessage) => void) {}

  push(text: string): void {
    // Lines end with CRLF, LF or CR; a CR that ends the text may be the first half of a CRLF, so it
    // stays in the buffer with the incomplete last line until the next chunk.
    const lines = (this.buffer + text).split(/\r\n|\r(?!$)|\n/);
    this.buffer = lines.pop() ?? '';
    lines.forEach((line) => {
      this.line(line);
    });
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) {
        this.onMessage({ event: this.event === '' ? 'message' : this.event, data: this.data.join('\n'), id: this.id });
      }
      this.event = '';
      this.data = [];
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'event') {
      this.event = value;
    } else if (field === 'data') {
      this.data.push(value);
    } else if (field === 'id' && !value.includes('\0')) {
      this.id = value;
    }
  }
}

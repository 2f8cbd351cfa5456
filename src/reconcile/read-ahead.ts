/**
 * `ReadAhead`: reads an async iterable ahead of its consumer, up to a bound. The deep check of an
 * hour (archived-ids.ts) starts MongoDB's `_id` listing of the hour with it before reading the
 * archive back, so the server produces the listing's batches while this process gunzips and
 * hashes the hour's objects, instead of the two taking turns (the driver asks for the next batch
 * only when the last one is consumed).
 *
 * At most `limit` items wait in the buffer (the reader pauses at the bound), plus the batch the
 * consumer is going through: memory stays bounded whatever the source's length. The consumer
 * gets the items in the source's order and the source's error after the items before it.
 * `close()` stops the reading (the source's iterator is returned, which closes a driver cursor)
 * and waits for it; it is idempotent. Written here (30 lines) rather than taken from a library:
 * the bound, the error order and the close are what matters, and no dependency of the project
 * has them.
 */

/** See the header. */
export class ReadAhead<T> implements AsyncIterable<T> {
  private buffer: T[] = [];
  private finished = false;
  private failure: { error: unknown } | undefined;
  private stopped = false;
  private wakeConsumer: (() => void) | undefined;
  private wakeReader: (() => void) | undefined;
  private readonly reading: Promise<void>;

  constructor(
    source: AsyncIterable<T>,
    private readonly limit: number,
  ) {
    this.reading = this.read(source);
  }

  private async read(source: AsyncIterable<T>): Promise<void> {
    try {
      for await (const item of source) {
        this.buffer.push(item);
        this.wake('consumer');
        while (this.buffer.length >= this.limit && !this.stopped) await new Promise<void>((resolve) => (this.wakeReader = resolve));
        if (this.stopped) break;
      }
    } catch (error) {
      this.failure = { error };
    } finally {
      this.finished = true;
      this.wake('consumer');
    }
  }

  private wake(who: 'consumer' | 'reader'): void {
    const wake = who === 'consumer' ? this.wakeConsumer : this.wakeReader;
    if (who === 'consumer') this.wakeConsumer = undefined;
    else this.wakeReader = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.buffer.length > 0) {
        const batch = this.buffer;
        this.buffer = [];
        this.wake('reader');
        yield* batch;
        continue;
      }
      if (this.finished) {
        if (this.failure !== undefined) throw this.failure.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
  }

  /** Stops reading (see the header) and waits until the reader has stopped. */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake('reader');
    await this.reading;
  }
}

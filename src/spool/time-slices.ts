/**
 * Lets long synchronous work share the event loop: call `pause()` between steps; it yields one
 * turn (setImmediate) once `sliceMs` have passed since the last yield, and otherwise returns at
 * once. The seal's facts check uses it so that the upload it overlaps keeps reading.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

export class TimeSlices {
  private since = performance.now();

  constructor(private readonly sliceMs = 2) {}

  async pause(): Promise<void> {
    if (performance.now() - this.since < this.sliceMs) return;
    await nextTurn();
    this.since = performance.now();
  }
}

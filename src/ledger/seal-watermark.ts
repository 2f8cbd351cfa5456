/**
 * `jobs` document `seal:<namespace>`: every hour before `through` has been processed (sealed
 * or given an empty manifest), so later runs look for empty hours only from there on. Fenced
 * like the hour states (fence.ts).
 */
import type { Collection, Document } from 'mongodb';
import type { FenceHolder } from './fence.js';
import { fencedUpsert } from './fence.js';

export class SealWatermark {
  private readonly jobs: Collection<{ _id: string; kind: string; namespace: string; through: Date; updatedAt: Date }>;

  constructor(
    jobs: Collection<Document>,
    private readonly namespace: string,
    private readonly fencing?: FenceHolder,
  ) {
    this.jobs = jobs as unknown as typeof this.jobs;
  }

  async get(): Promise<number | undefined> {
    const doc = await this.jobs.findOne({ _id: `seal:${this.namespace}` });
    return doc?.through.getTime();
  }

  async set(through: number): Promise<void> {
    await fencedUpsert(
      this.jobs,
      { _id: `seal:${this.namespace}` },
      { $set: { kind: 'seal', namespace: this.namespace, through: new Date(through), updatedAt: new Date() } },
      this.fencing,
    );
  }
}

/** What a seal run reports: the outcome of every hour it finished, and the reconcile after it. */

/**
 * One hour a seal run finished: delivered (a sealed file), empty (a count-0 manifest), failed, or
 * already-archived (a file of an hour restored into the source whose every document a delivered
 * part holds: no object was written).
 */
export interface HourOutcome {
  hour: string;
  start: number;
  count: number;
  key?: string;
  status: 'delivered' | 'failed' | 'empty' | 'already-archived';
  error?: string;
}

/** One recent hour compared with MongoDB after the run (its verdict: src/reconcile/verdict.ts). */
export interface ReconciledHour {
  hour: string;
  mongo: number;
  archived: number;
  status: string;
}

export interface SealReport {
  /** Hours that ended before this instant (now minus the seal grace) were due. */
  dueBefore: number;
  hours: HourOutcome[];
  reconciled: ReconciledHour[];
  /**
   * Why the reconcile after the run could not compare the recent hours with MongoDB (e.g. the
   * count failed), when it failed. It changes no hour's outcome: delivered hours stay delivered
   * (in the ledger too, not yet verified) and the next run's reconcile compares them again.
   */
  reconcileError?: string;
  /** Hours whose delivery failed (they are retried at the next run). */
  failed: number;
}

/** One `doctor` verdict: a check's name, whether it passed, a one-line message and a hint for a failure. */
export interface DoctorCheck {
  name: string;
  ok: boolean;
  message: string;
  hint?: string;
}

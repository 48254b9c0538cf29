/** JobRequest asks a worker to run one task: its TaskSpec field and its input, encoded. */
export interface JobRequest {
  readonly id: number;
  readonly field: string;
  readonly input: Uint8Array;
  readonly maxOutputBytes: number;
}

/** JobReply is a worker's word on a job: progress, its encoded result, or its error. */
export type JobReply =
  | { readonly id: number; readonly progress: { percent: number; note: string } }
  | { readonly id: number; readonly output: Uint8Array }
  | { readonly id: number; readonly error: { code: number; message: string } };

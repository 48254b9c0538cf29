/** JobSpec is what a worker needs to run one task. */
export interface JobSpec {
  /** The task's id, for its handler's context. */
  readonly taskId: string;
  /** The id of the API key that submitted the task: jobs are shared fairly among keys. */
  readonly keyId: string;
  /** The TaskSpec field of its handler. */
  readonly field: string;
  /** For a plugin task: the plugin module's URL and the task type. */
  readonly plugin?: { readonly url: string; readonly type: string } | undefined;
  /** Its input message, encoded. */
  readonly input: Uint8Array;
  readonly maxOutputBytes: number;
}

/** JobRequest asks a worker to run one task. */
export interface JobRequest extends JobSpec {
  readonly id: number;
}

/** JobReply is a worker's word on a job: progress, its encoded result, or its error. */
export type JobReply =
  | { readonly id: number; readonly progress: { percent: number; note: string } }
  | { readonly id: number; readonly output: Uint8Array }
  | { readonly id: number; readonly error: { code: number; message: string } };

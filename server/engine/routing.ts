import { create, toBinary } from "@bufbuild/protobuf";
import { taskTypeOf } from "../../clients/shared/task-types.js";
import {
  RoutingFactorSchema,
  type SmartRoutingResult,
  SmartRoutingResultSchema,
  type TaskSpec,
  TaskSpecSchema,
} from "../../gen/noizylab/agent/v1/task_pb.js";

/** DurationStats remembers how long this instance's recent tasks of each type took. */
export interface DurationStats {
  /** record adds a finished task's duration. */
  record(taskType: string, ms: number): void;
  /** mean is the mean of the type's recent durations, with how many there were. */
  mean(taskType: string): { ms: number; samples: number } | undefined;
}

/** createDurationStats keeps the last `window` durations of each type. */
export function createDurationStats(window = 50): DurationStats {
  const byType = new Map<string, number[]>();
  return {
    record(taskType, ms) {
      const recent = byType.get(taskType) ?? [];
      recent.push(ms);
      if (recent.length > window) recent.shift();
      byType.set(taskType, recent);
    },
    mean(taskType) {
      const recent = byType.get(taskType);
      if (!recent?.length) return undefined;
      return { ms: recent.reduce((a, b) => a + b, 0) / recent.length, samples: recent.length };
    },
  };
}

/**
 * What each task type costs (0 to 40 points) and how long it takes when nothing better is
 * known, in milliseconds. Network and parsing work costs most; generating a UUID least.
 */
const typeCosts: Record<string, { points: number; baselineMs: number; why: string }> = {
  echo: { points: 1, baselineMs: 1, why: "returns its input" },
  uuid: { points: 1, baselineMs: 1, why: "generates identifiers" },
  random: { points: 2, baselineMs: 1, why: "draws random values" },
  timestamp: { points: 2, baselineMs: 2, why: "parses and formats a time" },
  encode: { points: 3, baselineMs: 2, why: "encodes bytes, linear in their size" },
  hash: { points: 4, baselineMs: 2, why: "hashes bytes, linear in their size" },
  "smart-routing": { points: 2, baselineMs: 1, why: "scores a description" },
  compress: { points: 8, baselineMs: 20, why: "compresses bytes, CPU-bound" },
  "json-validator": { points: 12, baselineMs: 20, why: "compiles a schema and walks a document" },
  "text-analysis": { points: 16, baselineMs: 50, why: "segments, detects and scores a text" },
  "api-tester": { points: 24, baselineMs: 500, why: "waits on remote endpoints" },
  delay: { points: 4, baselineMs: 1_000, why: "sleeps as long as asked" },
};
const unknownType = { points: 10, baselineMs: 100, why: "is not known to the scorer" };
const costOf = (taskType: string) => typeCosts[taskType] ?? unknownType;

/** Words in a description that point to a task type, checked in this order. */
const descriptionRules: readonly [RegExp, string][] = [
  [/\b(endpoints?|api|urls?|https?|health ?checks?|uptime|ping)\b/i, "api-tester"],
  [/\bjson\b.*\bschema\b|\bschema\b.*\bjson\b|\bvalidat/i, "json-validator"],
  [
    /\b(sentiment|language|readability|keywords?|key phrases?|analy[sz]e .*text|text)\b/i,
    "text-analysis",
  ],
  [/\b(hash|digest|sha-?\d*|md5|checksum)\b/i, "hash"],
  [/\b(compress|decompress|gzip|brotli|deflate|zip)\b/i, "compress"],
  [/\b(base64|hex|url-?encode|encode|decode)\b/i, "encode"],
  [/\b(uuids?|identifiers?|ids?)\b/i, "uuid"],
  [/\b(time ?zones?|timestamps?|dates?|times?)\b/i, "timestamp"],
  [/\b(random|dice|lottery|password)\b/i, "random"],
  [/\b(sleep|wait|delay|pause)\b/i, "delay"],
  [/\b(echo|repeat|return)\b/i, "echo"],
];

const round = (value: number) => Math.round(value * 10) / 10;

/** Quick work first: 90 for trivial work, down to 10 for the heaviest. */
function priorityOf(complexity: number): number {
  return Math.round(Math.min(90, Math.max(10, 90 - complexity * 0.8)));
}

/** The points of each factor of a task's complexity, and how long the task should take. */
interface Points {
  readonly type: number;
  /** Undefined when the input's size is not known. */
  readonly payload: number | undefined;
  readonly durations: number;
  readonly expectedMs: number;
  /** The type's recent durations here, when there are enough to go by. */
  readonly recent: { ms: number; samples: number } | undefined;
}

function pointsOf(
  taskType: string,
  payloadBytes: number | undefined,
  baselineMs: number,
  stats: DurationStats,
): Points {
  const mean = stats.mean(taskType);
  const recent = mean && mean.samples >= 3 ? mean : undefined;
  const expectedMs = recent ? recent.ms : baselineMs;
  return {
    type: costOf(taskType).points,
    payload:
      payloadBytes === undefined
        ? undefined
        : round(Math.min(30, 3 * Math.log2(1 + payloadBytes / 1024))),
    durations: round(Math.min(30, 5 * Math.log10(1 + expectedMs))),
    expectedMs,
    recent,
  };
}

const complexityOf = (points: Points) =>
  round(points.type + (points.payload ?? 0) + points.durations);

function score(
  taskType: string,
  payloadBytes: number | undefined,
  baselineMs: number,
  stats: DurationStats,
  reasoning: string[],
): SmartRoutingResult {
  const points = pointsOf(taskType, payloadBytes, baselineMs, stats);
  const { recent } = points;
  const factors = [
    create(RoutingFactorSchema, {
      name: "task type",
      points: points.type,
      reason: `${taskType} ${costOf(taskType).why}`,
    }),
  ];
  if (points.payload !== undefined) {
    factors.push(
      create(RoutingFactorSchema, {
        name: "payload size",
        points: points.payload,
        reason: `${payloadBytes} bytes of input`,
      }),
    );
  }
  factors.push(
    create(RoutingFactorSchema, {
      name: "recent durations",
      points: points.durations,
      reason: recent
        ? `the last ${recent.samples} ${taskType} tasks here took ${Math.round(recent.ms)} ms on average`
        : `too few recent ${taskType} tasks here: the type's baseline of ${baselineMs} ms`,
    }),
  );
  const complexity = complexityOf(points);
  const priority = priorityOf(complexity);
  reasoning.push(
    ...factors.map((f) => `${f.name}: ${f.points} points (${f.reason})`),
    `complexity ${complexity} of 100, so priority ${priority}: quick work goes first`,
  );
  return create(SmartRoutingResultSchema, {
    complexity,
    taskType,
    priority,
    estimatedDurationMs: Math.max(1, Math.round(points.expectedMs)),
    factors,
    reasoning,
  });
}

/**
 * The task type of a spec, its encoded size and its baseline duration, as scored;
 * payloadBytes is the size, when the caller has encoded the spec already.
 */
function specFacts(spec: TaskSpec, payloadBytes = toBinary(TaskSpecSchema, spec).byteLength) {
  const taskType =
    spec.task.case === "plugin" ? spec.task.value.type : taskTypeOf(spec.task.case ?? "");
  const delayMs = spec.task.case === "delay" ? spec.task.value.durationMs : undefined;
  const baselineMs = delayMs ?? costOf(taskType).baselineMs;
  return { taskType, payloadBytes, baselineMs };
}

/** routeSpec scores a task spec as it would be submitted. */
export function routeSpec(spec: TaskSpec, stats: DurationStats): SmartRoutingResult {
  const { taskType, payloadBytes, baselineMs } = specFacts(spec);
  return score(taskType, payloadBytes, baselineMs, stats, [
    `the spec names the ${taskType} task: it runs with the ${taskType} handler`,
  ]);
}

/**
 * specPriority is the priority routeSpec gives a spec, without its explanation: what every
 * submit without a priority needs. payloadBytes is the spec's encoded size, if the caller knows
 * it.
 */
export function specPriority(spec: TaskSpec, stats: DurationStats, payloadBytes?: number): number {
  const facts = specFacts(spec, payloadBytes);
  return priorityOf(
    complexityOf(pointsOf(facts.taskType, facts.payloadBytes, facts.baselineMs, stats)),
  );
}

/** routeDescription picks a task type for work described in words, and scores it. */
export function routeDescription(description: string, stats: DurationStats): SmartRoutingResult {
  const match = descriptionRules.find(([pattern]) => pattern.test(description));
  if (match === undefined) {
    return create(SmartRoutingResultSchema, {
      priority: 50,
      reasoning: ["no task type fits the description: describe the input or the outcome wanted"],
    });
  }
  const [pattern, taskType] = match;
  const word = pattern.exec(description)?.[0] ?? "";
  return score(taskType, undefined, costOf(taskType).baselineMs, stats, [
    `"${word}" in the description points to the ${taskType} task`,
    "the input's size is not known from a description: it adds no points",
  ]);
}

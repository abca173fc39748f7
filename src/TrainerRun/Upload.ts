// Stage 4, upload: the trainer document (versioned, self-describing, secrets removed or
// encrypted) written content-addressed to the object store; a retry writes nothing new.
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import type { TrainerRequest } from "../Domain/Trainer.ts"
import { ObjectStore } from "../ObjectStore.ts"
import { Secrets } from "../Secrets.ts"
import { summarize, type Graph, type ResolvedTrainer } from "./Compile.ts"

export const TRAINER_FORMAT = "trainer-run/trainer"
export const TRAINER_VERSION = 1

/** JSON with object keys sorted at every level: the same content is the same bytes. */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_, v) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v
  )

export const REDACTED = "[redacted]"

/** The request as it may be shown and stored: header values replaced. */
export const redactRequest = (request: TrainerRequest): TrainerRequest =>
  request.teacher_headers
    ? { ...request, teacher_headers: Object.fromEntries(Object.keys(request.teacher_headers).map((k) => [k, REDACTED])) }
    : request

export interface TrainerRef {
  readonly uri: string
  readonly sha256: string
}

export class Upload extends Effect.Service<Upload>()("TrainerRun/Upload", {
  effect: Effect.gen(function*() {
    const store = yield* ObjectStore
    const secrets = yield* Secrets

    const document = (request: TrainerRequest, resolved: ResolvedTrainer, graph: Graph) => ({
      format: TRAINER_FORMAT,
      version: TRAINER_VERSION,
      description:
        "A trainer run: `resolved` says what to train (dataset spec, task, families, metrics, search, folds, ensembling, " +
        "distillation, seed); `graph.nodes` are the computations, each with `key`, `kind`, `requires` (a worker capability), " +
        "`params` and `deps` (keys). Node ids are `<job_id>.<key>`. `secrets.teacher_headers` values are AES-256-GCM " +
        "envelopes (enc:v1:<iv>:<ciphertext>:<tag>, AAD = header name) under the service's SECRETS_KEY.",
      request: redactRequest(request),
      resolved,
      secrets: {
        teacher_headers: request.teacher_headers
          ? Object.fromEntries(Object.entries(request.teacher_headers).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, secrets.encrypt(k, v)]))
          : null
      },
      graph: { ...graph, summary: summarize(graph) }
    })

    const upload = Effect.fn("Upload.upload")(function*(request: TrainerRequest, resolved: ResolvedTrainer, graph: Graph) {
      const bytes = Buffer.from(canonicalJson(document(request, resolved, graph)), "utf8")
      const sha256 = Crypto.createHash("sha256").update(bytes).digest("hex")
      const key = `trainers/sha256/${sha256}.json`
      const outcome = yield* store.putBytes(key, bytes, "application/json")
      return { ref: { uri: store.uri(key), sha256 } satisfies TrainerRef, key, created: outcome === "created" }
    })

    /** Removes a trainer document this submission wrote when no job came of it (and none uses it). */
    const discard = Effect.fn("Upload.discard")(function*(uploaded: { readonly key: string; readonly created: boolean; readonly ref: TrainerRef }, inUse: Effect.Effect<boolean, unknown>) {
      if (!uploaded.created) return
      const used = yield* inUse.pipe(Effect.orElseSucceed(() => true))
      if (!used) yield* store.delete(uploaded.key).pipe(Effect.ignore)
    })

    return { upload, discard } as const
  }),
  dependencies: [Secrets.Default]
}) {}

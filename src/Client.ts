// The typed SDK: every endpoint from the one `Api` definition the server implements (so client and
// server cannot drift), errors typed by tag, bearer auth, and retries that are safe: only on 503 (the
// server said "later", honouring Retry-After) and on network errors, and a submission keeps one
// Idempotency-Key across all its attempts, so a retried submission makes one job.
//
//   import { TrainerClient } from "trainer-run/client"
//   const client = yield* TrainerClient.make({ baseUrl: "http://127.0.0.1:8080", token })
//   const { job_id } = yield* client.submit({ dataset_id, task: { type: "regression", target: "y" } })
import { HttpApiClient, HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Duration, Effect, Option, type ParseResult, Schema, Stream } from "effect"
import { Api } from "./Api.ts"
import { Dataset } from "./Domain/Dataset.ts"
import { BadRequest, Conflict, FieldError, NotFound, PayloadTooLarge, ServiceUnavailable, Unauthorized, Unprocessable, UnsupportedMediaType } from "./Domain/Problem.ts"
import { StoredEvent, terminalEvents } from "./Domain/Events.ts"
import type { TrainerRequest } from "./Domain/Trainer.ts"

export interface ClientOptions {
  /** Where the service listens, e.g. http://127.0.0.1:8080. */
  readonly baseUrl: string
  /** A bearer token from the server's AUTH_TOKENS; none for the embedded default. */
  readonly token?: string | undefined
  /** Attempts per request when the server answers 503 or the network fails (default 6). */
  readonly attempts?: number | undefined
  /** First backoff; doubles per attempt, at most 10 s, jittered (default 200 ms). */
  readonly backoff?: Duration.DurationInput | undefined
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), when there is one. */
const retryAfter = (response: HttpClientResponse.HttpClientResponse): Duration.Duration | undefined => {
  const value = response.headers["retry-after"]
  if (value === undefined) return undefined
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000
  return Number.isFinite(seconds) ? Duration.seconds(Math.min(60, Math.max(0, seconds))) : undefined
}

/** Sends a request again on 503 and on network errors, and on nothing else. */
export const retrySafely = (attempts: number, backoff: Duration.DurationInput) => (client: HttpClient.HttpClient): HttpClient.HttpClient =>
  HttpClient.transform(client, (send) => {
    const wait = (attempt: number) =>
      Duration.millis(Math.min(10_000, Duration.toMillis(backoff) * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2))
    const attempt = (n: number): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> =>
      send.pipe(
        Effect.flatMap((response) =>
          response.status === 503 && n < attempts
            ? Effect.sleep(retryAfter(response) ?? wait(n)).pipe(Effect.zipRight(attempt(n + 1)))
            : Effect.succeed(response)
        ),
        Effect.catchIf(
          (e) => e._tag === "RequestError" && e.reason === "Transport" && n < attempts,
          () => Effect.sleep(wait(n)).pipe(Effect.zipRight(attempt(n + 1)))
        )
      )
    return attempt(1)
  })

const decodeEvent = Schema.decodeUnknownSync(StoredEvent)
const decodeDataset = Schema.decodeUnknown(Dataset)

export const make = (options: ClientOptions) =>
  Effect.gen(function*() {
    const transformClient = (client: HttpClient.HttpClient) =>
      client.pipe(
        HttpClient.mapRequest((request) => (options.token ? HttpClientRequest.bearerToken(request, options.token) : request)),
        retrySafely(options.attempts ?? 6, options.backoff ?? "200 millis")
      )
    const api = yield* HttpApiClient.make(Api, { baseUrl: options.baseUrl, transformClient })
    const http = transformClient(yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest(HttpClientRequest.prependUrl(options.baseUrl.replace(/\/$/, "")))
    )

    /**
     * Submits a trainer run. The Idempotency-Key (generated unless given) is the same on every
     * attempt: however many times the request is sent, it makes one job.
     */
    const submit = (request: typeof TrainerRequest.Type, idempotencyKey: string = crypto.randomUUID()) =>
      api.trainer.run({ payload: request, headers: { "idempotency-key": idempotencyKey } })

    /** Registers a dataset from bytes (CSV or Parquet) or CSV text. */
    const upload = (body: Uint8Array | string, options: { readonly name?: string; readonly format?: "csv" | "tsv" | "parquet" } = {}) => {
      const contentType = options.format === "parquet" ? "application/vnd.apache.parquet" : options.format === "tsv" ? "text/tab-separated-values" : "text/csv"
      const request = HttpClientRequest.post("/v1/datasets").pipe(
        HttpClientRequest.setUrlParams(options.name !== undefined ? { name: options.name } : {}),
        HttpClientRequest.bodyUint8Array(typeof body === "string" ? new TextEncoder().encode(body) : body, contentType)
      )
      return http.execute(request).pipe(
        Effect.flatMap((response) => Effect.map(response.json, (json) => ({ status: response.status, body: json as any }))),
        Effect.scoped,
        Effect.flatMap(({ body, status }): Effect.Effect<Dataset, Problem | ProblemError | ParseResult.ParseError> =>
          status < 300 ? decodeDataset(body) : Effect.fail(problemOf(status, body))
        )
      )
    }

    /**
     * The job's events as they commit (SSE), each emitted as it arrives, from after `lastEventId`;
     * when the connection drops it reconnects with Last-Event-ID (nothing skipped or repeated) and
     * ends after the job's terminal event. Gives up after 10 reconnects in a row that bring nothing.
     */
    const follow = (jobId: string, lastEventId = 0): Stream.Stream<StoredEvent, HttpClientError.HttpClientError | Problem | ProblemError> =>
      Stream.suspend(() => followFrom(jobId, { last: lastEventId, ended: false, fruitless: 0 }))

    const followFrom = (jobId: string, state: { last: number; ended: boolean; fruitless: number }) => {
      const connect = Stream.unwrapScoped(Effect.gen(function*() {
        const response = yield* http.execute(HttpClientRequest.get(`/v1/jobs/${encodeURIComponent(jobId)}/events`).pipe(
          HttpClientRequest.setUrlParam("follow", "true"),
          HttpClientRequest.setHeader("last-event-id", String(state.last))
        ))
        if (response.status === 204) {
          state.ended = true
          return Stream.empty
        }
        if (response.status !== 200) {
          const problem = yield* response.json.pipe(Effect.orElseSucceed(() => null))
          return yield* Effect.fail(problemOf(response.status, problem))
        }
        return response.stream.pipe(
          Stream.decodeText(),
          Stream.splitLines,
          Stream.mapAccum("", (data, line) =>
            line.startsWith("data:") ? [data + line.slice(5).trimStart(), Option.none<string>()] as const
              : line === "" && data !== "" ? ["", Option.some(data)] as const
              : [data, Option.none<string>()] as const),
          Stream.filterMap((x) => x),
          Stream.map((data) => decodeEvent(JSON.parse(data))),
          Stream.tap((event) =>
            Effect.sync(() => {
              state.last = event.stream_version
              state.fruitless = 0
              if (terminalEvents.has(event.type)) state.ended = true
            })
          ),
          Stream.takeUntil((event) => terminalEvents.has(event.type))
        )
      }))
      const loop: Stream.Stream<StoredEvent, HttpClientError.HttpClientError | Problem | ProblemError> = connect.pipe(
        // A dropped connection resumes from the last event received; an answer (4xx) ends the stream.
        Stream.catchAll((e) => ((e._tag === "RequestError" || e._tag === "ResponseError") && state.fruitless < 10 ? Stream.empty : Stream.fail(e))),
        Stream.concat(Stream.suspend(() => {
          if (state.ended) return Stream.empty
          state.fruitless++
          if (state.fruitless > 10) return Stream.fail(new ProblemError({ status: 0, problem: { detail: "the event stream kept closing without news" } }))
          return Stream.fromEffect(Effect.sleep("250 millis")).pipe(Stream.drain, Stream.concat(loop))
        }))
      )
      return loop
    }

    return { ...api, submit, upload, follow } as const
  })

const PROBLEMS = {
  400: BadRequest,
  401: Unauthorized,
  404: NotFound,
  409: Conflict,
  413: PayloadTooLarge,
  415: UnsupportedMediaType,
  422: Unprocessable,
  503: ServiceUnavailable
} as const
type Problem = BadRequest | Unauthorized | NotFound | Conflict | PayloadTooLarge | UnsupportedMediaType | Unprocessable | ServiceUnavailable

/** The server's problem+json as the same tagged error the generated endpoints fail with. */
const problemOf = (status: number, body: unknown): Problem | ProblemError => {
  const Class = PROBLEMS[status as keyof typeof PROBLEMS]
  const p = body as { type?: unknown; title?: unknown; detail?: unknown; errors?: unknown } | null
  if (Class && p && typeof p.detail === "string") {
    try {
      return new Class({
        type: String(p.type ?? ""),
        title: String(p.title ?? ""),
        status,
        detail: p.detail,
        ...(Array.isArray(p.errors) ? { errors: p.errors.map((e: any) => new FieldError({ path: String(e.path), message: String(e.message) })) } : {})
      })
    } catch {
      // not the shape we know: fall through
    }
  }
  return new ProblemError({ status, problem: body })
}

/** An answer the SDK's helpers could not take: the server's problem+json and its status. */
export class ProblemError extends Schema.TaggedError<ProblemError>()("ProblemError", {
  status: Schema.Number,
  problem: Schema.Unknown
}) {}

export type Client = Effect.Effect.Success<ReturnType<typeof make>>

export const TrainerClient = { make, retrySafely } as const

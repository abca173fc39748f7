// The HTTP server: the API, /openapi.json, /docs, request ids and logs, and the problem+json
// shape for every error, including those the framework raises before a handler runs.
import {
  HttpApiBuilder,
  HttpApiScalar,
  HttpApp,
  HttpServer,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { ConfigError, Effect, Exit, Layer, Metric } from "effect"
import { createServer } from "node:http"
import * as Crypto from "node:crypto"
import { Api } from "./Api.ts"
import { AppConfig } from "./Config.ts"
import { Datasets } from "./Datasets.ts"
import { DatasetsLive } from "./Datasets/Http.ts"
import { Jobs } from "./Jobs.ts"
import { JobsLive } from "./Jobs/Http.ts"
import { Secrets } from "./Secrets.ts"
import { TrainerRun } from "./TrainerRun.ts"
import { TrainerLive } from "./TrainerRun/Http.ts"
import { Workers } from "./Workers.ts"
import { WorkersLive } from "./Workers/Http.ts"
import { BadRequest, problemType } from "./Domain/Problem.ts"
import { refineIssues, summarize } from "./Validation.ts"
import { httpDuration, httpRequests } from "./Metrics.ts"
import { ObjectStoreLive } from "./ObjectStore.ts"
import { DatabaseLive } from "./Sql.ts"
import { SystemLive } from "./System/Http.ts"
import { AuthenticationLive } from "./Tenancy.ts"

const titles: Record<number, string> = {
  400: "Bad request",
  401: "Unauthorized",
  404: "Not found",
  405: "Method not allowed",
  413: "Payload too large",
  415: "Unsupported media type",
  422: "Unprocessable request",
  500: "Internal error",
  503: "Service unavailable"
}

const problem = (status: number, detail: string, errors?: ReadonlyArray<{ path: string; message: string }>) =>
  HttpServerResponse.unsafeJson(
    {
      type: problemType(status === 500 ? "internal" : `http-${status}`),
      title: titles[status] ?? "Error",
      status,
      detail,
      ...(errors && errors.length > 0 ? { errors } : {})
    },
    { status, contentType: "application/problem+json" }
  )

interface DecodeIssue {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

/** Every route of the API as (method, path pattern), to tell "no such route" from "wrong method". */
const routes = Object.values(Api.groups).flatMap((group: any) =>
  Object.values(group.endpoints).map((e: any) => ({
    method: e.method as string,
    pattern: new RegExp("^" + String(e.path).replace(/:[^/]+/g, "[^/]+") + "/?$")
  }))
)

/** The methods a path allows, when it is a path of the API. */
const allowedMethods = (url: string) => {
  const path = url.split("?")[0]!
  return [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))]
}

/** Empty error responses from the framework (unknown route, unreadable body, defect) become problems. */
const genericDetail = (request: HttpServerRequest.HttpServerRequest, status: number) => {
  const path = request.url.split("?")[0]
  switch (status) {
    case 400: return "the request body could not be read: it is not valid JSON or was cut short"
    case 404: return `no route for ${request.method} ${path}`
    case 405: return `${request.method} is not allowed on ${path}`
    case 500: return "an internal error occurred; it has been logged with this request's id"
    default: return `${request.method} ${path} failed`
  }
}

const isDecodeBody = (body: unknown): body is { issues: ReadonlyArray<DecodeIssue> } =>
  typeof body === "object" && body !== null && Array.isArray((body as { issues?: unknown }).issues)

/** Every error response leaves as application/problem+json. */
const reshape = (request: HttpServerRequest.HttpServerRequest, response: HttpServerResponse.HttpServerResponse) => {
  if (response.status < 400) return response
  const contentType = response.headers["content-type"] ?? ""
  if (contentType.startsWith("application/problem+json")) return response
  if (response.body._tag === "Uint8Array" && contentType.startsWith("application/json")) {
    try {
      const body: unknown = JSON.parse(new TextDecoder().decode(response.body.body))
      if (isDecodeBody(body)) {
        // HttpApi's decode errors: only path and query parameters reach it (bodies are decoded by our own stages).
        const errors = refineIssues(body.issues, "/query")
        return HttpServerResponse.unsafeJson(BadRequest.of(summarize(errors) || "bad request", errors), {
          status: 400,
          contentType: "application/problem+json"
        })
      }
    } catch {
      // not JSON after all: a generic problem follows
    }
  }
  if (response.status === 404 && response.body._tag === "Empty") {
    const allowed = allowedMethods(request.url)
    if (allowed.length > 0) {
      return HttpServerResponse.setHeader(
        problem(405, `${request.method} is not allowed on ${request.url.split("?")[0]}; use ${allowed.join(", ")}`),
        "allow",
        allowed.join(", ")
      )
    }
  }
  return problem(response.status, genericDetail(request, response.status))
}

/** Request ids, one log line per request, metrics, and problem+json everywhere. */
export const edge = (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const requestId = request.headers["x-request-id"]?.slice(0, 128) || Crypto.randomUUID()
    const start = performance.now()
    yield* HttpApp.appendPreResponseHandler((req, res) => {
      const shaped = HttpServerResponse.setHeader(reshape(req, res), "x-request-id", requestId)
      return Effect.succeed(shaped.status === 401 ? HttpServerResponse.setHeader(shaped, "www-authenticate", `Bearer realm="trainer-run"`) : shaped)
    })
    const exit = yield* Effect.exit(Effect.annotateLogs(app, "request_id", requestId))
    const status = Exit.isSuccess(exit)
      ? exit.value.status
      : (yield* HttpServerError.causeResponse(exit.cause))[0].status
    const seconds = (performance.now() - start) / 1000
    yield* Metric.increment(Metric.tagged(Metric.tagged(httpRequests, "method", request.method), "status", String(status)))
    yield* Metric.update(httpDuration, seconds)
    const line = `${request.method} ${request.url.split("?")[0]} ${status} ${(seconds * 1000).toFixed(1)}ms`
    yield* (Exit.isFailure(exit) && status >= 500 ? Effect.logError(line, exit.cause) : Effect.logInfo(line)).pipe(
      Effect.annotateLogs("request_id", requestId)
    )
    return yield* exit
  })

const ApiLive = HttpApiBuilder.api(Api).pipe(
  Layer.provide([SystemLive, DatasetsLive, TrainerLive, JobsLive, WorkersLive]),
  Layer.provide(AuthenticationLive)
)

/** Services behind the API, for a given database + object store. */
export const ServicesLive = Layer.mergeAll(Datasets.Default, TrainerRun.Default, Jobs.Default, Secrets.Default, Workers.Default).pipe(
  Layer.provideMerge(Layer.mergeAll(DatabaseLive, ObjectStoreLive))
)

/** The routes, OpenAPI and docs, served by whatever HttpServer is provided, over the services. */
export const HttpAppLive = HttpApiBuilder.serve(edge).pipe(
  Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
  // Scalar inlines its script; no fonts fetched from a CDN either, so /docs works offline.
  Layer.provide(HttpApiScalar.layer({ path: "/docs", scalar: { withDefaultFonts: false } })),
  Layer.provide(ApiLive)
)

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"])

/** Refuses to listen beyond loopback when no tokens are configured (§8). */
const guardExposure = Layer.effectDiscard(
  Effect.flatMap(AppConfig, ({ host, authTokens }) =>
    authTokens.size === 0 && !LOOPBACK.has(host)
      ? Effect.fail(ConfigError.InvalidData(["HOST"], `${host} is not loopback and AUTH_TOKENS is empty: set AUTH_TOKENS to listen beyond loopback`))
      : Effect.void
  )
)

export const NodeServerLive = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ host, port }) => NodeHttpServer.layer(createServer, { host, port }))
)

/**
 * The whole service on Node's HTTP server, printing where it listens (PORT=0: the port chosen).
 * The services (database, migrations, object store) are built before the server listens: a
 * connection accepted before the routes are installed would never be answered.
 */
export const ServerLive = HttpAppLive.pipe(
  HttpServer.withLogAddress,
  Layer.provideMerge(NodeServerLive),
  Layer.provideMerge(ServicesLive),
  Layer.provide(guardExposure)
)


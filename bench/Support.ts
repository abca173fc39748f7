// What every benchmark script shares: writing its results, and running its program.
import { FetchHttpClient, HttpBody, HttpClient, HttpServer } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { ConfigProvider, Context, Effect, Exit, Layer, Logger, LogLevel, Scope } from "effect"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import PgBoss from "pg-boss"
import { AppConfig } from "../src/Config.ts"
import { ServerLive } from "../src/Http.ts"

/** Writes `bench/results/<name>.json` (not committed). */
export const writeResults = (name: string, results: unknown) => {
  const dir = NodePath.join(import.meta.dirname, "results")
  Fs.mkdirSync(dir, { recursive: true })
  Fs.writeFileSync(NodePath.join(dir, `${name}.json`), JSON.stringify(results, null, 2))
}

/** Runs a benchmark with an HTTP client and quiet logs; a failure exits non-zero. */
export const runBench = <A, E>(program: Effect.Effect<A, E, HttpClient.HttpClient>) =>
  program.pipe(
    Effect.provide(FetchHttpClient.layer),
    Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)),
    Effect.runPromise
  ).catch((e) => {
    console.error(e)
    process.exit(1)
  })

/**
 * The whole service in this process on a free port, with the benchmark's settings; its context (for
 * the SqlClient and other services), its base URL, and `close` to shut it down.
 */
export const startService = (settings: Record<string, string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const provider = ConfigProvider.fromMap(new Map(Object.entries({ PORT: "0", LOG_LEVEL: "Warning", SCHEDULER_INBOX_SIZE: "4096", ...settings })))
    const context = yield* Layer.buildWithScope(ServerLive.pipe(Layer.provide(AppConfig.layer)), scope).pipe(Effect.withConfigProvider(provider))
    const server = Context.get(context, HttpServer.HttpServer)
    return {
      context,
      sql: Context.get(context, SqlClient.SqlClient),
      base: `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`,
      close: Scope.close(scope, Exit.void)
    }
  })

/** Registers seattle-weather.csv (vega-datasets); its dataset_id. */
export const registerWeather = (base: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    client.post(`${base}/v1/datasets`, {
      urlParams: { name: "weather" },
      body: HttpBody.uint8Array(Fs.readFileSync(NodePath.join(import.meta.dirname, "..", "node_modules", "vega-datasets", "data", "seattle-weather.csv")), "text/csv")
    }).pipe(Effect.flatMap((r) => r.json), Effect.scoped, Effect.orDie, Effect.map((body) => (body as { dataset_id: string }).dataset_id)))

/** pg-boss 10 on the benchmark's database, with a `nodes` queue; none without PostgreSQL. */
export const startPgBoss = (pgUrl: string | undefined) =>
  Effect.gen(function*() {
    if (pgUrl === undefined) return undefined
    const boss = new PgBoss({ connectionString: pgUrl, schema: "pgboss_bench", max: 10, supervise: false, schedule: false, migrate: true })
    // Its pool reports connections the benchmark's database drop ends; nothing to act on here.
    boss.on("error", () => {})
    yield* Effect.promise(() => boss.start())
    yield* Effect.promise(() => boss.createQueue("nodes"))
    return boss
  })

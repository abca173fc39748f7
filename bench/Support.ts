// What every benchmark script shares: writing its results, and running its program.
import { FetchHttpClient, type HttpClient } from "@effect/platform"
import { Effect, Logger, LogLevel } from "effect"
import * as Fs from "node:fs"
import * as NodePath from "node:path"

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

// Entry point of the `trainer` command line: operator commands (audit replay, for now).
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Logger, LogLevel } from "effect"
import { AppConfig } from "./Config.ts"
import { Replay } from "./Scheduler/Replay.ts"
import { DatabaseLive } from "./Sql.ts"

const keep = Options.boolean("keep").pipe(Options.withDescription("keep the scratch schema for inspection"))
const json = Options.boolean("json").pipe(Options.withDescription("print the result as JSON"))

/** Exits non-zero when the live tables differ from what the log says. */
class Differences extends Error {}

const replay = Command.make("replay", { keep, json }, ({ keep, json }) =>
  Effect.gen(function*() {
    const replayer = yield* Replay
    const result = yield* replayer.audit({ keep })
    if (json) {
      yield* Console.log(JSON.stringify(result, null, 2))
    } else {
      yield* Console.log(`replayed ${result.events} events: ${Object.entries(result.rows).map(([t, n]) => `${t} ${n}`).join(", ")}`)
      if (result.scratch_schema) yield* Console.log(`scratch schema kept: ${result.scratch_schema}`)
      for (const d of result.differences) {
        yield* Console.log(`DIFF ${d.table} ${d.key}\n  live:     ${JSON.stringify(d.live)}\n  replayed: ${JSON.stringify(d.replayed)}`)
      }
      yield* Console.log(result.differences.length === 0 ? "0 differences: the projections are what the log says" : `${result.differences.length} difference(s)`)
    }
    if (result.differences.length > 0) return yield* Effect.fail(new Differences(`${result.differences.length} difference(s)`))
  }).pipe(Effect.provide(Replay.Default))
).pipe(Command.withDescription("Rebuild every projection from the event log into a scratch schema and diff it with the live tables"))

const audit = Command.make("audit").pipe(Command.withSubcommands([replay]), Command.withDescription("Audits of the event log"))
const trainer = Command.make("trainer").pipe(Command.withSubcommands([audit]))

const cli = Command.run(trainer, { name: "trainer", version: "0.1.0" })

Effect.suspend(() => cli(process.argv)).pipe(
  Effect.provide(DatabaseLive.pipe(Layer.provide(AppConfig.layer))),
  Effect.provide(NodeContext.layer),
  Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)

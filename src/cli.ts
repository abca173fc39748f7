// Entry point of the `trainer` command line: the service (`serve`), the commands that talk to a
// running service (datasets, run, plan, jobs, events), and the operator's `audit replay`.
// Exit codes: 0 done; 1 a job failed or was cancelled, or the audit found differences; 2 the
// request was refused; 3 the service is unreachable or unavailable.
import { Command, Options, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { Cause, ConfigError, ConfigProvider, Console, Effect, Exit, Layer, Logger, LogLevel, Option } from "effect"
import { CliExit } from "./Cli/Output.ts"
import { remoteCommands } from "./Cli/Commands.ts"

const keep = Options.boolean("keep").pipe(Options.withDescription("keep the scratch schema for inspection"))
const json = Options.boolean("json").pipe(Options.withDescription("print the result as JSON"))

// The service and the database are loaded only by the commands that need them, so the commands that
// talk to a running service start quickly.
const loadService = Effect.promise(() => import("./Serve.ts")).pipe(Effect.flatMap((m) => m.serve))

const replay = Command.make("replay", { keep, json }, ({ keep, json }) =>
  Effect.gen(function*() {
    const [{ Replay }, { DatabaseLive }, { AppConfig }] = yield* Effect.promise(() =>
      Promise.all([import("./Scheduler/Replay.ts"), import("./Sql.ts"), import("./Config.ts")])
    )
    const audit = Effect.gen(function*() {
      const result = yield* (yield* Replay).audit({ keep })
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
      if (result.differences.length > 0) return yield* new CliExit({ code: 1, message: `${result.differences.length} difference(s)` })
    })
    const config = yield* AppConfig.pipe(Effect.provide(AppConfig.layer), Effect.mapError((e) => new CliExit({ code: 2, message: `error: ${e}` })))
    // A typo in DATA_DIR must not audit a new, empty database and call it clean.
    if (Option.isNone(config.databaseUrl) && !Fs.existsSync(NodePath.join(config.dataDir, "pg", "PG_VERSION"))) {
      return yield* new CliExit({ code: 2, message: `error: no embedded database in DATA_DIR ${config.dataDir} (set DATA_DIR to the service's, or DATABASE_URL)` })
    }
    // The database is open for the whole audit, and closed after it; one that cannot be opened
    // (in use by a running service, unreachable) is said in one line.
    return yield* audit.pipe(
      Effect.provide(Replay.Default.pipe(Layer.provide(DatabaseLive), Layer.provide(AppConfig.layer))),
      Effect.catchAllDefect((defect) => new CliExit({ code: 3, message: `error: cannot open the database: ${defect instanceof Error ? defect.message : String(defect)}` })),
      Effect.catchTag("SqlError", (e) => new CliExit({ code: 3, message: `error: the database failed: ${e.message}` }))
    )
  }).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))
).pipe(Command.withDescription("Rebuild every projection from the event log into a scratch schema and diff it with the live tables"))

const audit = Command.make("audit").pipe(Command.withSubcommands([replay]), Command.withDescription("Audits of the event log"))

/** Start-up failures in one line: bad configuration is refused input (2), a port that cannot be
 * listened on is the machine's (3). */
const startupFailure = (e: unknown) =>
  ConfigError.isConfigError(e)
    ? new CliExit({ code: 2, message: `error: configuration: ${String(e).replace(/^\(|\)$/g, "")}` })
    : (e as { _tag?: string })?._tag === "ServeError"
    ? new CliExit({ code: 3, message: `error: cannot listen: ${String((e as { cause?: { message?: string } }).cause?.message ?? e)} (HOST, PORT)` })
    : e

const serve = Command.make("serve", {
  embedded: Options.boolean("embedded").pipe(Options.withDescription("embedded PGlite and filesystem store in DATA_DIR even if DATABASE_URL / S3_BUCKET are set (without them it is the default anyway)"))
}, ({ embedded }) =>
  (embedded
    // The embedded default even where DATABASE_URL / S3_BUCKET are set: those two are not read.
    ? loadService.pipe(Effect.withConfigProvider(ConfigProvider.fromEnv().pipe(
      ConfigProvider.mapInputPath((name) => (name === "DATABASE_URL" || name === "S3_BUCKET" ? `TRAINER_SERVE_EMBEDDED_IGNORES_${name}` : name))
    )))
    : loadService).pipe(Effect.mapError(startupFailure))
).pipe(Command.withDescription("Run the service (configuration from the environment, as `npm start`)"))

const trainer = Command.make("trainer").pipe(
  Command.withSubcommands([serve, ...remoteCommands, audit]),
  Command.withDescription("Trainer Run control plane: datasets, trainer runs, jobs, live progress, audits")
)

const cli = Command.run(trainer, { name: "trainer", version: "0.1.0" })

// `trainer events … | head`: the reader left; stop quietly, as Unix tools do.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0)
  throw e
})

Effect.suspend(() => cli(process.argv)).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit)) return onExit(0)
      const failure = Cause.failureOption(exit.cause)
      const error = Option.getOrUndefined(failure)
      if (error instanceof CliExit) {
        if (error.message) process.stderr.write(`${error.message}\n`)
        return onExit(error.code)
      }
      if (Cause.isInterruptedOnly(exit.cause)) return onExit(130)
      // Usage errors are printed by @effect/cli itself; anything else is a bug worth its whole cause.
      if (ValidationError.isValidationError(error)) return onExit(2)
      process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
      onExit(1)
    }
  })
)

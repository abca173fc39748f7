// Entry point: the service, configured from the environment.
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { AppConfig } from "./Config.ts"
import { ServerLive } from "./Http.ts"

const LoggingLive = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ logLevel }) =>
    Layer.merge(
      Logger.logFmt,
      Logger.minimumLogLevel(LogLevel.fromLiteral(logLevel))
    )
  )
)

ServerLive.pipe(
  Layer.provide(LoggingLive),
  Layer.provide(AppConfig.layer),
  Layer.launch,
  NodeRuntime.runMain({ disablePrettyLogger: true })
)

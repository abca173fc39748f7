// The service's configuration: every setting, its default, read once through effect/Config.
import { Config, ConfigError, Context, Effect, Either, Layer, Option, Redacted } from "effect"

export interface Limits {
  readonly maxUploadBytes: number
  readonly maxJsonBodyBytes: number
  readonly maxDatasetRows: number
  readonly maxDatasetColumns: number
  readonly distinctExactCap: number
  readonly categoryValuesCap: number
  readonly maxGraphNodes: number
  readonly maxTrials: number
  readonly defaultTrials: number
  readonly maxCvFolds: number
  readonly maxClasses: number
  readonly maxFilterDepth: number
  readonly maxFilterNodes: number
  readonly maxFilterList: number
  readonly schedulerInboxSize: number
  readonly schedulerBatchSize: number
  readonly leaseSeconds: number
  readonly maxLeaseSeconds: number
  readonly maxAttempts: number
  readonly leaseSweepSeconds: number
}

export interface S3Settings {
  readonly bucket: string
  readonly endpoint: Option.Option<string>
  readonly region: string
  readonly forcePathStyle: boolean
  readonly prefix: string
  /** The standard AWS variables; unset: the SDK's default credential chain. */
  readonly credentials: Option.Option<{ readonly accessKeyId: string; readonly secretAccessKey: Redacted.Redacted }>
}

export interface AppConfigShape {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  readonly databaseUrl: Option.Option<Redacted.Redacted>
  readonly s3: Option.Option<S3Settings>
  /** token → tenant; empty means a single `default` tenant on loopback only. */
  readonly authTokens: ReadonlyMap<string, string>
  readonly teacherUrlAllowlist: ReadonlyArray<string>
  readonly limits: Limits
  readonly logLevel: "All" | "Trace" | "Debug" | "Info" | "Warning" | "Error" | "Fatal" | "None"
  /** Key for secrets at rest (teacher header values); unset: a key generated once in DATA_DIR. */
  readonly secretsKey: Option.Option<Redacted.Redacted>
}

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

const parseTokens = (raw: string): Map<string, string> => {
  const tokens = new Map<string, string>()
  for (const pair of raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
    const eq = pair.indexOf("=")
    if (eq <= 0 || eq === pair.length - 1) throw new Error(`AUTH_TOKENS entry is not tenant=token: ${pair.slice(0, Math.max(eq, 0))}=…`)
    const tenant = pair.slice(0, eq).trim()
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(tenant)) throw new Error(`AUTH_TOKENS tenant name is invalid: ${tenant}`)
    const token = pair.slice(eq + 1).trim()
    if (tokens.has(token)) throw new Error(`AUTH_TOKENS gives one token to two tenants (${tokens.get(token)} and ${tenant})`)
    tokens.set(token, tenant)
  }
  return tokens
}

export const appConfig: Config.Config<AppConfigShape> = Config.all({
  host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1")),
  port: Config.integer("PORT").pipe(
    Config.validate({ message: "PORT must be between 0 and 65535", validation: (n) => n >= 0 && n <= 65535 }),
    Config.withDefault(8080)
  ),
  dataDir: Config.string("DATA_DIR").pipe(Config.withDefault("./.data")),
  databaseUrl: Config.option(Config.redacted("DATABASE_URL")),
  s3: Config.option(
    Config.all({
      bucket: Config.string("S3_BUCKET"),
      endpoint: Config.option(Config.string("S3_ENDPOINT")),
      region: Config.string("S3_REGION").pipe(Config.withDefault("us-east-1")),
      forcePathStyle: Config.boolean("S3_FORCE_PATH_STYLE").pipe(Config.withDefault(true)),
      prefix: Config.string("S3_PREFIX").pipe(Config.withDefault("")),
      credentials: Config.option(Config.all({
        accessKeyId: Config.string("AWS_ACCESS_KEY_ID"),
        secretAccessKey: Config.redacted("AWS_SECRET_ACCESS_KEY")
      }))
    })
  ),
  authTokens: Config.redacted("AUTH_TOKENS").pipe(
    Config.withDefault(Redacted.make("")),
    Config.mapOrFail((r) => {
      try {
        return Either.right(parseTokens(Redacted.value(r)) as ReadonlyMap<string, string>)
      } catch (e) {
        return Either.left(ConfigError.InvalidData(["AUTH_TOKENS"], (e as Error).message))
      }
    })
  ),
  teacherUrlAllowlist: Config.string("TEACHER_URL_ALLOWLIST").pipe(
    Config.withDefault(""),
    Config.map((s) => s.split(",").map((h) => h.trim().toLowerCase()).filter((h) => h.length > 0))
  ),
  limits: Config.all({
    maxUploadBytes: positiveInt("MAX_UPLOAD_BYTES", 1024 * 1024 * 1024),
    maxJsonBodyBytes: positiveInt("MAX_JSON_BODY_BYTES", 1024 * 1024),
    maxDatasetRows: positiveInt("MAX_DATASET_ROWS", 50_000_000),
    maxDatasetColumns: positiveInt("MAX_DATASET_COLUMNS", 2_000),
    distinctExactCap: positiveInt("DISTINCT_EXACT_CAP", 100_000),
    categoryValuesCap: positiveInt("CATEGORY_VALUES_CAP", 50),
    maxGraphNodes: positiveInt("MAX_GRAPH_NODES", 20_000),
    maxTrials: positiveInt("MAX_TRIALS", 500),
    defaultTrials: positiveInt("DEFAULT_TRIALS", 8),
    maxCvFolds: positiveInt("MAX_CV_FOLDS", 20),
    maxClasses: positiveInt("MAX_CLASSES", 200),
    maxFilterDepth: positiveInt("MAX_FILTER_DEPTH", 16),
    maxFilterNodes: positiveInt("MAX_FILTER_NODES", 256),
    maxFilterList: positiveInt("MAX_FILTER_LIST", 10_000),
    schedulerInboxSize: positiveInt("SCHEDULER_INBOX_SIZE", 1_024),
    schedulerBatchSize: positiveInt("SCHEDULER_BATCH_SIZE", 64),
    leaseSeconds: positiveInt("LEASE_SECONDS", 60),
    maxLeaseSeconds: positiveInt("MAX_LEASE_SECONDS", 3600),
    maxAttempts: positiveInt("MAX_ATTEMPTS", 3),
    leaseSweepSeconds: positiveInt("LEASE_SWEEP_SECONDS", 5)
  }),
  secretsKey: Config.option(Config.redacted("SECRETS_KEY")),
  logLevel: Config.literal("All", "Trace", "Debug", "Info", "Warning", "Error", "Fatal", "None")("LOG_LEVEL").pipe(Config.withDefault("Info" as const))
})

export class AppConfig extends Context.Tag("AppConfig")<AppConfig, AppConfigShape>() {
  static readonly layer = Layer.effect(AppConfig, appConfig)
  static readonly make = (overrides: Partial<AppConfigShape> = {}) =>
    Layer.effect(AppConfig, Effect.map(appConfig, (c) => ({ ...c, ...overrides })))
}

// The two deployments every registry test runs against: embedded (PGlite + filesystem) and
// production-shaped (a fresh database on the machine's PostgreSQL + a fresh bucket on Ceph RGW).
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3"
import { NodeHttpServer } from "@effect/platform-node"
import { type ConfigError, ConfigProvider, Effect, Layer, Logger, LogLevel } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import pg from "pg"
import { AppConfig } from "../../src/Config.ts"
import { HttpAppLive, ServicesLive } from "../../src/Http.ts"

export const PG_ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
export const S3_ENDPOINT = process.env.TEST_S3_ENDPOINT ?? "http://127.0.0.1:7480"
export const S3_CREDENTIALS = {
  accessKeyId: process.env.TEST_S3_ACCESS_KEY ?? "test",
  secretAccessKey: process.env.TEST_S3_SECRET_KEY ?? "testtesttest"
}

const suffix = () => Crypto.randomBytes(5).toString("hex")

/** A temp directory, removed afterwards. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "trainer-test-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** A fresh database on the machine's PostgreSQL, dropped afterwards. */
export const freshDatabase = Effect.acquireRelease(
  Effect.promise(async () => {
    const name = `trainer_test_${suffix()}`
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
    await admin.end()
    const url = new URL(PG_ADMIN_URL)
    url.pathname = `/${name}`
    return { name, url: url.toString() }
  }),
  ({ name }) =>
    Effect.promise(async () => {
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
      await admin.connect()
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    }).pipe(Effect.ignore)
)

export const s3Client = () =>
  new S3Client({
    endpoint: S3_ENDPOINT,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: S3_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED"
  })

/** A fresh bucket on the S3 server, emptied and removed afterwards. */
export const freshBucket = Effect.acquireRelease(
  Effect.promise(async () => {
    const bucket = `trainer-test-${suffix()}`
    const client = s3Client()
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
    client.destroy()
    return bucket
  }),
  (bucket) =>
    Effect.promise(async () => {
      const client = s3Client()
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }))
      const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }))
      if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }))
      await client.send(new DeleteBucketCommand({ Bucket: bucket }))
      client.destroy()
    }).pipe(Effect.ignore)
)

export type Settings = Record<string, string>

const configFrom = (settings: Settings) =>
  AppConfig.layer.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(settings))))))

export interface Deployment {
  readonly name: string
  readonly config: (extra?: Settings) => Layer.Layer<AppConfig, ConfigError.ConfigError>
}

export const embedded: Deployment = {
  name: "embedded (PGlite + filesystem)",
  config: (extra = {}) =>
    Layer.unwrapScoped(Effect.map(tempDir, (dir) => configFrom({ DATA_DIR: dir, ...extra })))
}

export const postgresS3: Deployment = {
  name: "PostgreSQL + S3 (Ceph RGW)",
  config: (extra = {}) =>
    Layer.unwrapScoped(
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const bucket = yield* freshBucket
        const dir = yield* tempDir
        return configFrom({
          DATA_DIR: dir,
          DATABASE_URL: db.url,
          S3_BUCKET: bucket,
          S3_ENDPOINT,
          S3_REGION: "us-east-1",
          S3_FORCE_PATH_STYLE: "true",
          AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
          ...extra
        })
      })
    )
}

export const deployments = [embedded, postgresS3] as const

/** The real server on a test port, with its services exposed for assertions, and an HttpClient aimed at it. */
export const testServer = (deployment: Deployment, extra?: Settings) =>
  HttpAppLive.pipe(
    Layer.provideMerge(ServicesLive),
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(deployment.config(extra)),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
  )

// HTTP handlers for datasets: read the upload (raw or multipart), map service errors to problems.
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse, Multipart } from "@effect/platform"
import type { SqlError } from "@effect/sql"
import { Effect, Metric, Option, Schema, Stream } from "effect"
import { Api } from "../Api.ts"
import { AppConfig } from "../Config.ts"
import { Datasets, type DatasetNotFound } from "../Datasets.ts"
import { Dataset, DatasetName, type DatasetFormat, RegisterFromObject, stagingKey } from "../Domain/Dataset.ts"
import { decodeStrict, fieldErrors, readJson } from "../Validation.ts"
import {
  BadRequest,
  FieldError,
  NotFound,
  PayloadTooLarge,
  ServiceUnavailable,
  Unprocessable,
  UnsupportedMediaType
} from "../Domain/Problem.ts"
import { datasetRegistrationDuration, datasetRegistrations } from "../Metrics.ts"
import { ObjectStore, type ObjectStoreError, type ObjectStoreShape } from "../ObjectStore.ts"
import { CurrentTenant } from "../Tenancy.ts"
import type { ProfileError } from "./Profile.ts"
import {
  acceptedContentTypes,
  declaredFormat,
  extensionFormat,
  sniff,
  spool,
  type Spooled,
  UploadInterrupted,
  UploadTooLarge
} from "./Upload.ts"

const decodeName = Schema.decodeUnknownEither(DatasetName)

const checkName = (name: string | undefined, path: string) => {
  if (name === undefined) return Effect.fail(Unprocessable.field(path, "is required: name the dataset"))
  return decodeName(name).pipe(
    Effect.mapError((e) => Unprocessable.field(path, fieldErrors(e)[0]?.message ?? "is not a valid name"))
  )
}

const tooLarge = (limit: number) => PayloadTooLarge.of(`the upload exceeds MAX_UPLOAD_BYTES (${limit} bytes)`)

/** Decides the format from what the client declared, the file name, and the bytes themselves. */
const resolveFormat = (declared: Option.Option<DatasetFormat>, fileName: string | undefined, file: Spooled, path: string) =>
  Effect.gen(function*() {
    if (file.size === 0) return yield* Unprocessable.field(path, "the file is empty")
    const sniffed = sniff(file.head)
    const format = Option.getOrElse(declared, () => (sniffed === "parquet" ? "parquet" : extensionFormat(fileName ?? "") ?? "csv"))
    if (format === "parquet" && sniffed !== "parquet") {
      return yield* Unprocessable.field(path, "is not a Parquet file (it does not start with PAR1)")
    }
    if (format === "csv" && sniffed !== "csv") {
      return yield* Unprocessable.field(path, sniffed === "parquet" ? "is a Parquet file sent as CSV: use content-type application/vnd.apache.parquet" : "is binary, not CSV text")
    }
    return format
  })

const bodyErrors = (maxBytes: number) => (e: UploadTooLarge | UploadInterrupted) =>
  e._tag === "UploadTooLarge" ? tooLarge(maxBytes) : BadRequest.of("the upload was interrupted before the body ended")

interface Upload {
  /** Where in the request the file was (for error paths). */
  readonly path: string
  readonly name: string
  readonly format: DatasetFormat
  readonly file: Spooled
  /** Tab when the client said TSV (content type or .tsv name); otherwise read from the header line. */
  readonly delimiter: string | undefined
}

const delimiterHint = (contentType: string, fileName: string) =>
  contentType.toLowerCase().startsWith("text/tab-separated-values") || fileName.toLowerCase().endsWith(".tsv") ? "\t" : undefined

const readMultipart = (request: HttpServerRequest.HttpServerRequest, nameParam: string | undefined, maxBytes: number) =>
  Effect.gen(function*() {
    if (!/;\s*boundary=/i.test(request.headers["content-type"] ?? "")) {
      return yield* BadRequest.of("multipart/form-data needs a boundary parameter in content-type")
    }
    let file: { spooled: Spooled; fileName: string; contentType: string } | undefined
    let name: string | undefined
    const errors: Array<FieldError> = []
    yield* request.multipartStream.pipe(
      Multipart.withLimitsStream({ maxFileSize: Option.some(maxBytes), maxParts: Option.some(16) }),
      Stream.mapError((e) => (e.reason === "FileTooLarge" || e.reason === "BodyTooLarge" ? tooLarge(maxBytes) : BadRequest.of(`malformed multipart body: ${e.reason}`))),
      Stream.runForEach((part) =>
        Effect.gen(function*() {
          if (part._tag === "Field") {
            if (part.key === "name") name = part.value
            else if (part.key === "file") errors.push(new FieldError({ path: "/file", message: "must be a file part (with a filename), not a text field" }))
            else errors.push(new FieldError({ path: `/${part.key}`, message: "is not a known field (expected file, name)" }))
            return
          }
          if (part.key !== "file") {
            errors.push(new FieldError({ path: `/${part.key}`, message: "is not a known field (expected file, name)" }))
            return yield* Stream.runDrain(part.content).pipe(Effect.ignore)
          }
          if (file !== undefined) {
            errors.push(new FieldError({ path: "/file", message: "was sent more than once" }))
            return yield* Stream.runDrain(part.content).pipe(Effect.ignore)
          }
          const spooled = yield* spool(part.content, maxBytes).pipe(Effect.mapError(bodyErrors(maxBytes)))
          file = { spooled, fileName: part.name, contentType: part.contentType }
        })
      )
    )
    if (file === undefined && !errors.some((e) => e.path === "/file")) {
      errors.push(new FieldError({ path: "/file", message: "is required: a file part with the CSV or Parquet bytes" }))
    }
    if (errors.length > 0) return yield* Unprocessable.of(errors.map((e) => `${e.path}: ${e.message}`).join("; "), errors)
    const { spooled, fileName, contentType } = file!
    const declared = declaredFormat(contentType) ?? Option.none()
    const finalName = yield* checkName(name ?? nameParam ?? fileName, "/name")
    const format = yield* resolveFormat(declared, fileName, spooled, "/file")
    return { path: "/file", name: finalName, format, file: spooled, delimiter: delimiterHint(contentType, fileName) } satisfies Upload
  })

const readRaw = (request: HttpServerRequest.HttpServerRequest, contentType: string, nameParam: string | undefined, maxBytes: number) =>
  Effect.gen(function*() {
    const declared = declaredFormat(contentType)
    if (declared === undefined) {
      return yield* UnsupportedMediaType.of(
        `content-type ${JSON.stringify(contentType)} is not accepted here; send one of ${acceptedContentTypes.join(", ")}`
      )
    }
    const name = yield* checkName(nameParam, "/query/name")
    const spooled = yield* spool(request.stream, maxBytes).pipe(Effect.mapError(bodyErrors(maxBytes)))
    const format = yield* resolveFormat(declared, name, spooled, "/body")
    return { path: "/body", name, format, file: spooled, delimiter: delimiterHint(contentType, name) } satisfies Upload
  })

const decodeFromObject = decodeStrict(RegisterFromObject)

/** The JSON form: copy an object already in the store into a spool, then register it like an upload. */
const readFromObject = (
  request: HttpServerRequest.HttpServerRequest,
  tenant: string,
  store: ObjectStoreShape,
  limits: { maxUploadBytes: number; maxJsonBodyBytes: number }
) =>
  Effect.gen(function*() {
    const body = yield* readJson(request, limits.maxJsonBodyBytes)
    const { name, object_key, format } = yield* decodeFromObject(body)
    const key = stagingKey(tenant, object_key)
    const present = yield* store.exists(key).pipe(Effect.mapError(infraProblem))
    if (!present) return yield* Unprocessable.field("/object_key", `no object at ${key} (stage objects under staging/${tenant}/)`)
    const spooled = yield* spool(store.get(key), limits.maxUploadBytes).pipe(
      Effect.mapError((e) =>
        e._tag === "UploadTooLarge" ? tooLarge(limits.maxUploadBytes) : ServiceUnavailable.of("the object store is unavailable (get failed)")
      )
    )
    const declared = format !== undefined ? Option.some(format) : Option.fromNullable(extensionFormat(object_key))
    const resolved = yield* resolveFormat(declared, object_key, spooled, "/object_key")
    return { path: "/object_key", name, format: resolved, file: spooled, delimiter: delimiterHint("", object_key) } satisfies Upload
  })

export const profileProblem = (e: ProfileError, path: string) => Unprocessable.field(path, e.detail)

function infraProblem(e: ObjectStoreError | SqlError.SqlError) {
  return e._tag === "ObjectStoreError"
    ? ServiceUnavailable.of(`the object store is unavailable (${e.op} failed)`)
    : ServiceUnavailable.of("the database is unavailable")
}

export const DatasetsLive = HttpApiBuilder.group(Api, "datasets", (handlers) =>
  Effect.gen(function*() {
    const datasets = yield* Datasets
    const store = yield* ObjectStore
    const { limits } = yield* AppConfig
    const encode = HttpServerResponse.schemaJson(Dataset)

    return handlers
      .handleRaw("register", ({ request, urlParams }) =>
        Effect.gen(function*() {
          const tenant = yield* CurrentTenant
          const contentType = request.headers["content-type"] ?? ""
          const declaredLength = Number(request.headers["content-length"] ?? "0")
          if (declaredLength > limits.maxUploadBytes) return yield* tooLarge(limits.maxUploadBytes)
          const kind = contentType.split(";")[0]!.trim().toLowerCase()
          const upload = kind === "multipart/form-data"
            ? yield* readMultipart(request, urlParams.name, limits.maxUploadBytes)
            : kind === "application/json"
            ? yield* readFromObject(request, tenant, store, limits)
            : yield* readRaw(request, contentType, urlParams.name, limits.maxUploadBytes)
          const { dataset, created } = yield* datasets.register({
            tenant,
            name: upload.name,
            format: upload.format,
            file: upload.file,
            delimiter: upload.delimiter,
            metadata: { tenant, request_id: request.headers["x-request-id"] }
          }).pipe(
            Effect.catchTags({
              ProfileError: (e) => Effect.fail(profileProblem(e, upload.path)),
              ObjectStoreError: (e) => Effect.fail(infraProblem(e)),
              SqlError: (e) => Effect.fail(infraProblem(e))
            })
          )
          return yield* encode(dataset, { status: created ? 201 : 200 }).pipe(Effect.orDie)
        }).pipe(
          Effect.scoped,
          Effect.tapBoth({
            onFailure: (e) => Metric.increment(Metric.tagged(datasetRegistrations, "outcome", e._tag)),
            onSuccess: (r) => Metric.increment(Metric.tagged(datasetRegistrations, "outcome", r.status === 201 ? "created" : "existing"))
          }),
          Metric.trackDuration(datasetRegistrationDuration)
        ))
      .handle("list", ({ urlParams }) =>
        Effect.flatMap(CurrentTenant, (tenant) => datasets.list(tenant, urlParams)).pipe(
          Effect.catchTag("SqlError", (e) => Effect.fail(infraProblem(e)))
        ))
      .handle("get", ({ path }) =>
        Effect.flatMap(CurrentTenant, (tenant) => datasets.get(tenant, path.dataset_id)).pipe(
          Effect.catchTags({
            DatasetNotFound: (e: DatasetNotFound) => Effect.fail(NotFound.of(`no dataset ${e.datasetId}`)),
            SqlError: (e) => Effect.fail(infraProblem(e))
          })
        ))
  })
)

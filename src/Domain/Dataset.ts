// Datasets: identifiers, the column profile, and the dataset as the API shows it.
import { Schema } from "effect"

export const DatasetId = Schema.String.pipe(
  Schema.pattern(/^ds_[0-9a-f]{32}$/),
  Schema.brand("DatasetId"),
  Schema.annotations({ description: "Dataset identifier (`ds_` + 32 hex digits)." })
)
export type DatasetId = typeof DatasetId.Type

export const Dtype = Schema.Literal("int", "float", "bool", "string", "date", "timestamp")
export type Dtype = typeof Dtype.Type

export const DatasetFormat = Schema.Literal("csv", "parquet")
export type DatasetFormat = typeof DatasetFormat.Type

/** A bound of an ordered column: a number for int/float, an ISO-8601 string for date/timestamp (UTC). */
export const Bound = Schema.NullOr(Schema.Union(Schema.Number, Schema.String))

export class ValueCount extends Schema.Class<ValueCount>("ValueCount")({
  value: Schema.Union(Schema.String, Schema.Number, Schema.Boolean),
  count: Schema.Int
}) {}

export class ColumnProfile extends Schema.Class<ColumnProfile>("ColumnProfile")({
  name: Schema.String,
  dtype: Dtype,
  null_count: Schema.Int,
  distinct_count: Schema.Int.annotations({ description: "Distinct non-null values; exact when `distinct_exact`." }),
  distinct_exact: Schema.Boolean,
  min: Bound,
  max: Bound,
  values: Schema.optional(Schema.Array(ValueCount)).annotations({
    description: "Every distinct value with its count, most frequent first, when there are few (CATEGORY_VALUES_CAP)."
  })
}) {}

export class DatasetProfile extends Schema.Class<DatasetProfile>("DatasetProfile")({
  rows: Schema.Int,
  columns: Schema.Array(ColumnProfile)
}) {}

export class Dataset extends Schema.Class<Dataset>("Dataset")({
  dataset_id: DatasetId,
  name: Schema.String,
  format: DatasetFormat,
  size_bytes: Schema.Int,
  sha256: Schema.String,
  uri: Schema.String.annotations({ description: "Where the bytes live (`s3://…` or `file://…`), content-addressed." }),
  created_at: Schema.String,
  profile: DatasetProfile
}) {}

export const DatasetName = Schema.String.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(200, { message: () => "must be at most 200 characters" }),
  Schema.filter((s) => ![...s].some((c) => c.charCodeAt(0) < 0x20) || "must not contain control characters")
)

/** Where a tenant stages objects to register by reference: tenants never read each other's objects. */
export const stagingKey = (tenant: string, objectKey: string) => `staging/${tenant}/${objectKey}`

export const datasetObjectKey = (sha256: string, format: DatasetFormat) => `datasets/sha256/${sha256}.${format}`

/** Registration from an object already in the store (the JSON form of `POST /v1/datasets`). */
export class RegisterFromObject extends Schema.Class<RegisterFromObject>("RegisterFromObject")({
  name: DatasetName,
  object_key: Schema.String.pipe(
    Schema.minLength(1, { message: () => "must not be empty" }),
    Schema.maxLength(1024, { message: () => "must be at most 1024 characters" }),
    Schema.filter((k) => k.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..") || "must be a relative object key (no leading or trailing /, no empty, . or .. segments)")
  ).annotations({ description: "Key of an object the tenant staged under `staging/<tenant>/` in the bucket (or DATA_DIR/objects)." }),
  format: Schema.optional(DatasetFormat).annotations({ description: "Defaults to the key's extension, else the bytes decide." })
}) {}

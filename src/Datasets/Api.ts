// The datasets endpoints, as the server serves them and the typed client calls them.
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, Multipart, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Dataset, RegisterFromObject } from "../Domain/Dataset.ts"
import { Page, PageParams } from "../Domain/Page.ts"
import { NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType } from "../Domain/Problem.ts"
import { Authentication } from "../Tenancy.ts"

const MultipartUpload = HttpApiSchema.Multipart(
  Schema.Struct({
    file: Multipart.SingleFileSchema,
    name: Schema.optional(Schema.String)
  })
)
const CsvBody = Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/csv" }))
const ParquetBody = Schema.Uint8ArrayFromSelf.pipe(
  HttpApiSchema.withEncoding({ kind: "Uint8Array", contentType: "application/vnd.apache.parquet" })
)

export const DatasetPath = Schema.Struct({ dataset_id: Schema.String })

export class DatasetsApi extends HttpApiGroup.make("datasets")
  .add(
    HttpApiEndpoint.post("register", "/v1/datasets")
      .setPayload(Schema.Union(MultipartUpload, CsvBody, ParquetBody, RegisterFromObject))
      .setUrlParams(Schema.Struct({ name: Schema.optional(Schema.String) }))
      .addSuccess(Dataset, { status: 201 })
      .addSuccess(Dataset)
      .addError(PayloadTooLarge)
      .addError(UnsupportedMediaType)
      .addError(Unprocessable)
      .annotate(OpenApi.Summary, "Register a dataset")
      .annotate(
        OpenApi.Description,
        "Upload CSV or Parquet bytes, either as the raw body (`content-type: text/csv` or `application/vnd.apache.parquet`, `?name=`) " +
          "or as `multipart/form-data` with a `file` part and a `name` field, or as JSON naming an object already in the bucket " +
          "(`{name, object_key, format?}`). The file is profiled, stored content-addressed " +
          "and recorded. 201 for a new dataset; 200 when the same bytes were already registered under the same name."
      )
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/datasets")
      .setUrlParams(PageParams)
      .addSuccess(Page(Dataset))
      .annotate(OpenApi.Summary, "List datasets, newest first")
  )
  .add(
    HttpApiEndpoint.get("get", "/v1/datasets/:dataset_id")
      .setPath(DatasetPath)
      .addSuccess(Dataset)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "One dataset with its profile")
  )
  .middleware(Authentication)
{}

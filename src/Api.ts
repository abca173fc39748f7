// The root HttpApi: one definition shared by the server, the typed client and /openapi.json.
import { HttpApi, OpenApi } from "@effect/platform"
import { DatasetsApi } from "./Datasets/Api.ts"
import { JobsApi } from "./Jobs/Api.ts"
import { TrainerApi } from "./TrainerRun/Api.ts"
import { WorkersApi } from "./Workers/Api.ts"
import { BadRequest, ServiceUnavailable } from "./Domain/Problem.ts"
import { SystemApi } from "./System/Api.ts"

export class Api extends HttpApi.make("trainer-run")
  .add(SystemApi)
  .add(DatasetsApi)
  .add(TrainerApi)
  .add(JobsApi)
  .add(WorkersApi)
  .addError(BadRequest)
  .addError(ServiceUnavailable)
  .annotate(OpenApi.Title, "Trainer Run control plane")
  .annotate(OpenApi.Version, "1.0.0")
  .annotate(
    OpenApi.Description,
    "Register tabular datasets and submit AutoML trainer runs. Errors are application/problem+json (RFC 9457)."
  )
{}

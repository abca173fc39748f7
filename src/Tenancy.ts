// Tenancy: bearer tokens map to tenants (AUTH_TOKENS); with none configured, one `default` tenant.
import { HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { Context, Effect, Layer, Redacted } from "effect"
import * as Crypto from "node:crypto"
import { AppConfig } from "./Config.ts"
import { Unauthorized } from "./Domain/Problem.ts"

export class CurrentTenant extends Context.Tag("CurrentTenant")<CurrentTenant, string>() {}

export const DEFAULT_TENANT = "default"

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("Authentication", {
  failure: Unauthorized,
  provides: CurrentTenant,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

const sameSecret = (a: string, b: string) => {
  const x = Crypto.createHash("sha256").update(a).digest()
  const y = Crypto.createHash("sha256").update(b).digest()
  return Crypto.timingSafeEqual(x, y)
}

export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.map(AppConfig, ({ authTokens }) =>
    Authentication.of({
      bearer: (token) =>
        Effect.suspend(() => {
          if (authTokens.size === 0) return Effect.succeed(DEFAULT_TENANT)
          const given = Redacted.value(token)
          if (given.length === 0) return Effect.fail(Unauthorized.of("missing bearer token (Authorization: Bearer <token>)"))
          for (const [known, tenant] of authTokens) if (sameSecret(given, known)) return Effect.succeed(tenant)
          return Effect.fail(Unauthorized.of("unknown bearer token"))
        })
    })
  )
)

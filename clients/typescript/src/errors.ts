// Typed errors: every error envelope ({success: false, error: {code, message, fields?}})
// becomes the class of its code.

export class ScoreboardError extends Error {
  readonly code: string;
  readonly status: number;
  readonly fields: Record<string, unknown>;
  readonly retryAfter: number | null;

  constructor(message: string, code = "ERROR", status = 0,
              fields: Record<string, unknown> = {}, retryAfter: number | null = null) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }
}

export class ValidationError extends ScoreboardError {}
export class Unauthorized extends ScoreboardError {}
export class Forbidden extends ScoreboardError {}
export class NotFound extends ScoreboardError {}
export class Conflict extends ScoreboardError {}
export class RateLimited extends ScoreboardError {}
export class ScoreLimitExceeded extends ScoreboardError {}
export class IdempotencyKeyReused extends ScoreboardError {}
export class ServiceUnavailable extends ScoreboardError {}
/** No answer after every try (timeouts, connection errors). */
export class Unreachable extends ScoreboardError {}

const BY_CODE: Record<string, typeof ScoreboardError> = {
  VALIDATION_ERROR: ValidationError,
  UNAUTHORIZED: Unauthorized,
  FORBIDDEN: Forbidden,
  NOT_FOUND: NotFound,
  CONFLICT: Conflict,
  RATE_LIMITED: RateLimited,
  SCORE_LIMIT_EXCEEDED: ScoreLimitExceeded,
  IDEMPOTENCY_KEY_REUSED: IdempotencyKeyReused,
  SERVICE_UNAVAILABLE: ServiceUnavailable,
};

export function fromEnvelope(status: number, body: unknown,
                             retryAfter: number | null): ScoreboardError {
  const error = (body as { error?: { code?: string; message?: string; fields?: object } })
    ?.error;
  if (!error || typeof error !== "object") {
    return new ScoreboardError(`HTTP ${status}`, "ERROR", status, {}, retryAfter);
  }
  const code = String(error.code ?? "ERROR");
  const Cls = BY_CODE[code] ?? ScoreboardError;
  return new Cls(String(error.message ?? ""), code, status,
                 (error.fields ?? {}) as Record<string, unknown>, retryAfter);
}

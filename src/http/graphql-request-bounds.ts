import { Transform, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequestError } from '../core/errors';
import { VARIABLES_SHAPE_LIMITS, variablesShapeProblem } from '../graphql/variables-shape';
import { jsonStructureProblem, type JsonStructureLimits } from './json-structure';

/**
 * The largest `/graphql` body a signed-in owner may send: a TEXT source of 1,000,000
 * characters (4 MB of UTF-8) plus JSON overhead. Everyone else gets the small limit.
 */
export const OWNER_BODY_LIMIT_BYTES = 5 * 1024 * 1024;

/**
 * A JSON body's structure at most: the variables' limits, one level deeper (the body's own
 * object holds them), with room for `extensions` and the body's own members.
 */
const JSON_BODY_LIMITS: JsonStructureLimits = {
  maxDepth: VARIABLES_SHAPE_LIMITS.maxDepth + 1,
  maxTokens: 2 * VARIABLES_SHAPE_LIMITS.maxValues,
};

const kilobytes = (bytes: number) => `${Math.round(bytes / 1024)} KB`;

/** A body longer than its limit: 413 with a message that says what the limit is and who may send more. */
function tooLarge(smallLimit: number): BadRequestError {
  return new BadRequestError(
    `The request body is larger than ${kilobytes(smallLimit)}, the limit for /graphql; a signed-in owner may send up to ${kilobytes(OWNER_BODY_LIMIT_BYTES)} (a TEXT source).`,
    413,
  );
}

/** Passes a body through unchanged, and fails it with 413 once more than `maxBytes` arrived. */
class BodyLimit extends Transform {
  /** Read by Fastify to compare with Content-Length (the body is not decoded here, so the same count). */
  receivedEncodedLength = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly error: () => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.receivedEncodedLength += chunk.length;
    if (this.receivedEncodedLength > this.maxBytes) callback(this.error());
    else callback(null, chunk);
  }
}

/**
 * Bounds on a `/graphql` request before anything costly runs:
 * - its JSON structure (`jsonStructureProblem`), on its bytes before it is parsed: 400;
 * - its body: at most `smallLimitBytes` (256 KB) unless the request carries a signed-in
 *   owner's token, who may send a TEXT source (5 MB); the viewer is looked up only for a body
 *   that declares more than the small limit or none (chunked), and a body that declares too
 *   much is refused (413) before a byte of it is read;
 * - its variables and extensions: their shape (`variablesShapeProblem`) is checked on the
 *   parsed JSON, before graphql-js coerces them: 400 in milliseconds instead of seconds of
 *   coercion.
 * The route's own `bodyLimit` must be at least the owner limit: this narrows it per request.
 */
export function registerGraphqlRequestBounds(
  fastify: FastifyInstance,
  options: { smallLimitBytes: number; isSignedInOwner: (authorization: string | undefined) => Promise<boolean> },
): void {
  const { smallLimitBytes } = options;
  const isGraphql = (request: FastifyRequest) => request.url === '/graphql' || request.url.startsWith('/graphql?');

  // Fastify's own JSON parser (prototype-poisoning checks included), behind the structure check.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const problem = jsonStructureProblem(body as Buffer, JSON_BODY_LIMITS);
    if (problem) return done(new BadRequestError(`The request body is too large in structure: ${problem}.`), undefined);
    return parseJson(request, (body as Buffer).toString('utf8'), done);
  });

  fastify.addHook('preParsing', async (request, _reply, payload) => {
    if (!isGraphql(request)) return payload;
    const header = request.headers['content-length'];
    const declared = header === undefined ? undefined : Number(header);
    // Fastify holds the body to its declared length, so a small declared body needs nothing more.
    if (declared !== undefined && declared <= smallLimitBytes) return payload;
    const limit = (await options.isSignedInOwner(request.headers.authorization))
      ? OWNER_BODY_LIMIT_BYTES
      : smallLimitBytes;
    if (declared !== undefined && declared > limit) throw tooLarge(smallLimitBytes);
    return payload.pipe(new BodyLimit(limit, () => tooLarge(smallLimitBytes)));
  });

  fastify.addHook('preValidation', async (request) => {
    if (!isGraphql(request)) return;
    const params = (request.method === 'GET' ? request.query : request.body) as Record<string, unknown> | undefined;
    if (params === null || typeof params !== 'object') return;
    for (const name of ['variables', 'extensions'] as const) {
      let value = params[name];
      // GET carries them as JSON strings in the query; Apollo parses them later, the same way.
      if (typeof value === 'string') {
        try {
          value = JSON.parse(value);
        } catch {
          continue; // Apollo answers malformed JSON itself.
        }
      }
      const problem = variablesShapeProblem(value);
      if (problem) throw new BadRequestError(`The request's ${name} are too large: ${problem}.`);
    }
  });
}

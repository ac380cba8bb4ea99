import type { MultipartFile } from '@fastify/multipart';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ServerDeps } from './server-deps';
import { AppError, BadUserInputError } from '../core/errors';
import type { ClientAddress } from './client-address';

/**
 * `POST /uploads` (multipart/form-data: `botId`, optional `title`, one `file`) creates a
 * FILE source. The file is buffered with a hard size limit (413 above it): sources are
 * small documents, and a buffer lets the content be validated before anything is stored.
 */
/** The same counters as `createSource` (schema/sources.graphql): an upload is a source created. */
const UPLOAD_POLICIES = ['GLOBAL', 'USER', 'IP'] as const;

export function registerUploadRoute(fastify: FastifyInstance, app: ServerDeps, clientAddress: ClientAddress): void {
  const maxBytes = app.config.http.uploadMaxBytes;

  fastify.post('/uploads', async (request, reply: FastifyReply) => {
    // Errors thrown here, AppErrors included, go to the server's error handler: one mapping
    // from error to status, headers and body for every route.
    const context = await app.contextFor({
      requestId: request.id,
      authorization: request.headers.authorization,
      clientIp: clientAddress.of(request.raw),
    });
    // Reject a missing or bad token, and a client over its limits, before reading a possibly large body.
    context.access.requireOwner();
    try {
      await context.limits.check(UPLOAD_POLICIES, { field: 'Mutation.createSource' });
    } finally {
      for (const [name, value] of Object.entries(context.limits.headers())) reply.header(name, value);
    }
    if (!request.isMultipart()) {
      throw new BadUserInputError('Send multipart/form-data with fields botId and file.', 'file');
    }
    const fields: Record<string, string> = {};
    let file: MultipartFile | undefined;
    let data: Buffer | undefined;
    try {
      for await (const part of request.parts({ limits: { fileSize: maxBytes, files: 1, fields: 10 } })) {
        if (part.type === 'field') {
          fields[part.fieldname] = String(part.value);
        } else if (part.fieldname !== 'file') {
          throw new BadUserInputError(`Unexpected file field "${part.fieldname}"; name it "file".`, part.fieldname);
        } else {
          file = part;
          // Throws RequestFileTooLargeError (413) past the limit.
          data = await part.toBuffer();
        }
      }
    } catch (error: unknown) {
      // The parser and its streams report a malformed body (no boundary, a truncated part) as
      // plain errors without a status: that is the client's fault, not ours.
      if (!(error instanceof AppError) && (error as { statusCode?: unknown } | null)?.statusCode === undefined) {
        throw new BadUserInputError('The multipart/form-data body is malformed.', 'file');
      }
      throw error;
    }
    if (!fields.botId) throw new BadUserInputError('botId is required.', 'botId');
    if (!file || !data) throw new BadUserInputError('file is required.', 'file');
    const source = await context.sources.createFromUpload(
      fields.botId,
      { filename: file.filename, contentType: file.mimetype, data },
      fields.title,
    );
    context.log.info({ sourceId: source.id, botId: source.botId, bytes: data.length }, 'file source uploaded');
    return reply.code(201).send({ source });
  });
}

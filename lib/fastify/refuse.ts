import { STATUS_CODES } from 'node:http'
import type { FastifyError } from '@fastify/error'
import type { FastifyReply } from 'fastify'

/**
 * Answers with one of the plugin's coded errors, in the shape Fastify gives errors
 * (`{ statusCode, code, error, message }`), without going through the error handler: these are
 * answers the plugin expects to give (no `error` log line, no stack).
 */
export function refuse (reply: FastifyReply, err: FastifyError): FastifyReply {
  const statusCode = err.statusCode ?? 500
  return reply.code(statusCode).send({ statusCode, code: err.code, error: STATUS_CODES[statusCode], message: err.message })
}

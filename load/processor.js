'use strict';

/**
 * Artillery hooks. GraphQL answers errors with HTTP 200, so the status code alone would
 * count a failed send as a success: count `errors` in the body, by error code.
 */
function checkGraphQL(_request, response, _context, events, done) {
  try {
    const body = JSON.parse(response.body);
    if (Array.isArray(body.errors)) {
      for (const error of body.errors)
        events.emit('counter', `graphql.errors.${error.extensions?.code ?? 'UNKNOWN'}`, 1);
    } else {
      events.emit('counter', 'graphql.ok', 1);
    }
  } catch {
    events.emit('counter', 'graphql.errors.UNPARSEABLE', 1);
  }
  return done();
}

module.exports = { checkGraphQL };

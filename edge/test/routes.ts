// The documented routes, read from the generated OpenAPI document (what the fuzzer targets and the
// oracle checks refusal codes against): generated from the routes, so new routes are in it.
import { api } from '../src/api.ts';
import { documentedRoutes, openApiDocument } from '../src/openapi.ts';

export const ROUTES = documentedRoutes(await openApiDocument(api));

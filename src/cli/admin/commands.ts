/**
 * The resource subcommands of `tollgate` (services, plans, accounts, applications, keys, tokens): each
 * is data — its arguments, the admin API call it makes, and how its answer is shown.
 */
export interface OptionSpec {
  /** Body field it fills (default: the option name with - turned into _). */
  readonly field?: string;
  readonly type?: 'string' | 'boolean' | 'number' | 'list';
  readonly required?: boolean;
  readonly help: string;
}

export interface CommandSpec {
  /** `resource verb`, e.g. `applications suspend`. */
  readonly name: string;
  readonly summary: string;
  /** Positional arguments, in order (all required). */
  readonly args?: readonly string[];
  readonly options?: Readonly<Record<string, OptionSpec>>;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under /admin/api; `{name}` is replaced by an argument or option value. */
  readonly path: string;
  /** Options that go into the query string instead of the body. */
  readonly query?: readonly string[];
  /** Columns of a list answer (`items`), or null for a single object. */
  readonly columns?: readonly string[];
}

const service = { type: 'string', required: true, help: 'service id' } as const;
const PAGE = {
  limit: { type: 'number', help: 'page size (1-500)' },
  cursor: { type: 'string', help: 'next_cursor of the previous page' },
} as const;

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'services list',
    summary: 'list services',
    method: 'GET',
    path: '/services',
    options: PAGE,
    query: ['limit', 'cursor'],
    columns: ['id', 'system_name', 'name', 'state'],
  },
  {
    name: 'services get',
    summary: 'show a service',
    args: ['service_id'],
    method: 'GET',
    path: '/services/{service_id}',
  },
  {
    name: 'services create',
    summary: 'create a service',
    method: 'POST',
    path: '/services',
    options: {
      'system-name': { required: true, help: 'unique name (slug)' },
      name: { required: true, help: 'display name' },
      upstream: { help: 'upstream URL' },
    },
  },
  {
    name: 'services delete',
    summary: 'delete a service',
    args: ['service_id'],
    method: 'DELETE',
    path: '/services/{service_id}',
  },
  {
    name: 'plans list',
    summary: "list a service's application plans",
    method: 'GET',
    path: '/services/{service}/application_plans',
    options: { service, ...PAGE },
    query: ['limit', 'cursor'],
    columns: ['id', 'system_name', 'name', 'state'],
  },
  {
    name: 'plans create',
    summary: 'create an application plan',
    method: 'POST',
    path: '/services/{service}/application_plans',
    options: {
      service,
      'system-name': { required: true, help: 'unique name in the service' },
      name: { required: true, help: 'display name' },
    },
  },
  {
    name: 'plans delete',
    summary: 'delete an application plan',
    args: ['plan_id'],
    method: 'DELETE',
    path: '/services/{service}/application_plans/{plan_id}',
    options: { service },
  },
  {
    name: 'accounts list',
    summary: 'list developer accounts',
    method: 'GET',
    path: '/accounts',
    options: PAGE,
    query: ['limit', 'cursor'],
    columns: ['id', 'name', 'email', 'state'],
  },
  {
    name: 'accounts get',
    summary: 'show an account',
    args: ['account_id'],
    method: 'GET',
    path: '/accounts/{account_id}',
  },
  {
    name: 'accounts create',
    summary: 'create a developer account',
    method: 'POST',
    path: '/accounts',
    options: { name: { required: true, help: 'account name' }, email: { help: 'contact email' } },
  },
  {
    name: 'accounts delete',
    summary: 'delete an account',
    args: ['account_id'],
    method: 'DELETE',
    path: '/accounts/{account_id}',
  },
  {
    name: 'applications list',
    summary: 'list applications',
    method: 'GET',
    path: '/applications',
    options: { 'service-id': { help: 'only this service' }, ...PAGE },
    query: ['service-id', 'limit', 'cursor'],
    columns: ['id', 'name', 'service_id', 'plan_id', 'state'],
  },
  {
    name: 'applications get',
    summary: 'show an application',
    args: ['application_id'],
    method: 'GET',
    path: '/applications/{application_id}',
  },
  {
    name: 'applications create',
    summary: 'create an application in an account',
    method: 'POST',
    path: '/accounts/{account}/applications',
    options: {
      account: { required: true, help: 'account id' },
      service: { field: 'service_id', required: true, help: 'service id' },
      plan: { field: 'plan_id', required: true, help: 'plan id' },
      name: { required: true, help: 'application name' },
    },
  },
  {
    name: 'applications suspend',
    summary: 'suspend an application',
    args: ['application_id'],
    method: 'POST',
    path: '/applications/{application_id}/suspend',
  },
  {
    name: 'applications resume',
    summary: 'resume a suspended application',
    args: ['application_id'],
    method: 'POST',
    path: '/applications/{application_id}/resume',
  },
  {
    name: 'applications approve',
    summary: 'approve a pending application',
    args: ['application_id'],
    method: 'POST',
    path: '/applications/{application_id}/approve',
  },
  {
    name: 'applications change-plan',
    summary: 'move an application to another plan of its service',
    args: ['application_id'],
    method: 'POST',
    path: '/applications/{application_id}/change_plan',
    options: { plan: { field: 'plan_id', required: true, help: 'plan id' } },
  },
  {
    name: 'applications delete',
    summary: 'delete an application',
    args: ['application_id'],
    method: 'DELETE',
    path: '/applications/{application_id}',
  },
  {
    name: 'keys list',
    summary: "list an application's keys",
    args: ['application_id'],
    method: 'GET',
    path: '/applications/{application_id}/keys',
  },
  {
    name: 'keys add',
    summary: 'add an application key (generated when --value is absent)',
    args: ['application_id'],
    method: 'POST',
    path: '/applications/{application_id}/keys',
    options: { value: { help: 'the key' } },
  },
  {
    name: 'keys delete',
    summary: 'delete an application key',
    args: ['application_id', 'key'],
    method: 'DELETE',
    path: '/applications/{application_id}/keys/{key}',
  },
  {
    name: 'keys regenerate',
    summary: "regenerate an application's user_key",
    args: ['application_id'],
    method: 'POST',
    path: '/applications/{application_id}/user_key/regenerate',
  },
  {
    name: 'tokens list',
    summary: 'list access tokens (never their values)',
    method: 'GET',
    path: '/access_tokens',
    options: PAGE,
    query: ['limit', 'cursor'],
    columns: ['id', 'name', 'scopes', 'read_only', 'expires_at'],
  },
  {
    name: 'tokens create',
    summary: 'create an access token (its value is shown once)',
    method: 'POST',
    path: '/access_tokens',
    options: {
      name: { required: true, help: 'token name' },
      scopes: { type: 'list', required: true, help: 'comma-separated: management,analytics,billing' },
      'read-only': { type: 'boolean', help: 'read-only token' },
      'expires-at': { help: 'ISO time after which the token stops working' },
    },
  },
  {
    name: 'tokens delete',
    summary: 'delete an access token',
    args: ['token_id'],
    method: 'DELETE',
    path: '/access_tokens/{token_id}',
  },
];

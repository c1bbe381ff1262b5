using Agents.Testing;

// One throwaway PostgreSQL server for the whole run; each test class makes its own databases on it.
[assembly: AssemblyFixture(typeof(PostgresServer))]

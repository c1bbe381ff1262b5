namespace Agents.Silo.Postgres;

/// <summary>
/// The SQL the Orleans ADO.NET providers run on PostgreSQL, by the <c>OrleansQuery</c> key each provider looks up.
/// Written for this repository from what the providers bind and read (see <see cref="OrleansPostgresSchema"/>).
/// </summary>
/// <remarks>
/// Conventions the providers impose, all checked by the tests in <c>tests/Cluster.Tests</c>:
/// <list type="bullet">
/// <item>Parameters are bound by name (<c>@DeploymentId</c>, <c>@GrainIdHash</c>, …) with types from their .NET values;
/// every <see cref="DateTime"/> arrives as <c>timestamptz</c> (UTC).</item>
/// <item>Result columns are looked up by name, so they are aliased in double quotes, exactly as the provider spells them.</item>
/// <item>Compare-and-swap queries are one statement each, so they are atomic without an explicit transaction:
/// under READ COMMITTED a concurrent writer that loses the row lock re-checks the version and matches nothing.</item>
/// </list>
/// </remarks>
internal static class OrleansPostgresQueries
{
    // ---------------------------------------------------------------- clustering (membership)
    // One orleans_membership_version row per cluster holds the table version, the only ETag the provider
    // checks: each insert or update of a silo row must also move it from @Version to @Version + 1.

    /// <summary>Gateways a client may connect to: silos of the cluster in status <c>@Status</c> (Active) with a gateway port.</summary>
    public const string GatewaysQueryKey = """
        SELECT m.address    AS "Address",
               m.proxy_port AS "ProxyPort",
               m.generation AS "Generation"
          FROM orleans_membership AS m
         WHERE m.cluster_id = @DeploymentId
           AND m.status = @Status
           AND m.proxy_port > 0
        """;

    /// <summary>One silo's row with the table version; one row with null silo columns when the silo has none.</summary>
    public const string MembershipReadRowKey = """
        SELECT t.version         AS "Version",
               m.address         AS "Address",
               m.port            AS "Port",
               m.generation      AS "Generation",
               m.silo_name       AS "SiloName",
               m.host_name       AS "HostName",
               m.status          AS "Status",
               m.proxy_port      AS "ProxyPort",
               m.suspect_times   AS "SuspectTimes",
               m.start_time      AS "StartTime",
               m.i_am_alive_time AS "IAmAliveTime"
          FROM orleans_membership_version AS t
          LEFT JOIN orleans_membership AS m
                 ON m.cluster_id = t.cluster_id
                AND m.address = @Address
                AND m.port = @Port
                AND m.generation = @Generation
         WHERE t.cluster_id = @DeploymentId
        """;

    /// <summary>Every silo row of the cluster with the table version, read in one snapshot; one row with null silo columns when there are none.</summary>
    public const string MembershipReadAllKey = """
        SELECT t.version         AS "Version",
               m.address         AS "Address",
               m.port            AS "Port",
               m.generation      AS "Generation",
               m.silo_name       AS "SiloName",
               m.host_name       AS "HostName",
               m.status          AS "Status",
               m.proxy_port      AS "ProxyPort",
               m.suspect_times   AS "SuspectTimes",
               m.start_time      AS "StartTime",
               m.i_am_alive_time AS "IAmAliveTime"
          FROM orleans_membership_version AS t
          LEFT JOIN orleans_membership AS m
                 ON m.cluster_id = t.cluster_id
         WHERE t.cluster_id = @DeploymentId
        """;

    /// <summary>Creates the cluster's version row (version 0) unless it exists; returns whether it created it.</summary>
    public const string InsertMembershipVersionKey = """
        WITH created AS (
            INSERT INTO orleans_membership_version (cluster_id, version, changed_at)
            VALUES (@DeploymentId, 0, now())
            ON CONFLICT (cluster_id) DO NOTHING
            RETURNING 1
        )
        SELECT EXISTS (SELECT 1 FROM created)
        """;

    /// <summary>
    /// Adds a silo row if the table version is still <c>@Version</c> and the silo has no row yet, moving the version on;
    /// returns whether the row was added.
    /// </summary>
    public const string InsertMembershipKey = """
        WITH advanced AS (
            UPDATE orleans_membership_version AS t
               SET version = t.version + 1,
                   changed_at = now()
             WHERE t.cluster_id = @DeploymentId
               AND t.version = @Version
               AND NOT EXISTS (
                   SELECT 1
                     FROM orleans_membership AS m
                    WHERE m.cluster_id = @DeploymentId
                      AND m.address = @Address
                      AND m.port = @Port
                      AND m.generation = @Generation)
            RETURNING t.cluster_id
        ),
        added AS (
            INSERT INTO orleans_membership
                (cluster_id, address, port, generation, silo_name, host_name, status, proxy_port, suspect_times, start_time, i_am_alive_time)
            SELECT a.cluster_id, @Address, @Port, @Generation, @SiloName, @HostName, @Status, @ProxyPort, NULL, @StartTime, @IAmAliveTime
              FROM advanced AS a
            ON CONFLICT DO NOTHING
            RETURNING 1
        )
        SELECT EXISTS (SELECT 1 FROM added)
        """;

    /// <summary>
    /// Changes a silo's status, suspicions and I-am-alive time if the table version is still <c>@Version</c>,
    /// moving the version on; returns whether the row was changed.
    /// </summary>
    public const string UpdateMembershipKey = """
        WITH advanced AS (
            UPDATE orleans_membership_version AS t
               SET version = t.version + 1,
                   changed_at = now()
             WHERE t.cluster_id = @DeploymentId
               AND t.version = @Version
               AND EXISTS (
                   SELECT 1
                     FROM orleans_membership AS m
                    WHERE m.cluster_id = @DeploymentId
                      AND m.address = @Address
                      AND m.port = @Port
                      AND m.generation = @Generation)
            RETURNING t.cluster_id
        ),
        changed AS (
            UPDATE orleans_membership AS m
               SET status = @Status,
                   suspect_times = @SuspectTimes,
                   i_am_alive_time = @IAmAliveTime
              FROM advanced AS a
             WHERE m.cluster_id = a.cluster_id
               AND m.address = @Address
               AND m.port = @Port
               AND m.generation = @Generation
            RETURNING 1
        )
        SELECT EXISTS (SELECT 1 FROM changed)
        """;

    /// <summary>A silo's heartbeat: sets its I-am-alive time; the table version does not move.</summary>
    public const string UpdateIAmAlivetimeKey = """
        UPDATE orleans_membership
           SET i_am_alive_time = @IAmAliveTime
         WHERE cluster_id = @DeploymentId
           AND address = @Address
           AND port = @Port
           AND generation = @Generation
        """;

    /// <summary>Forgets a cluster: its silo rows and its version row.</summary>
    public const string DeleteMembershipTableEntriesKey = """
        WITH silos AS (
            DELETE FROM orleans_membership
             WHERE cluster_id = @DeploymentId
        )
        DELETE FROM orleans_membership_version
         WHERE cluster_id = @DeploymentId
        """;

    /// <summary>Removes rows of dead silos (status 6) whose last I-am-alive time is before <c>@IAmAliveTime</c>.</summary>
    public const string CleanupDefunctSiloEntriesKey = """
        DELETE FROM orleans_membership
         WHERE cluster_id = @DeploymentId
           AND status = 6
           AND i_am_alive_time < @IAmAliveTime
        """;

    /// <summary>
    /// Optional key (Orleans 10.4+): the provider reads all rows, picks dead silos it may forget, and runs this once per
    /// row with the values it read; the row goes only if it is still dead and unchanged since (no new I-am-alive or
    /// suspicion in between). When the key is absent the provider uses <see cref="CleanupDefunctSiloEntriesKey"/>.
    /// </summary>
    public const string CleanupDefunctSiloEntryKey = """
        DELETE FROM orleans_membership
         WHERE cluster_id = @DeploymentId
           AND address = @Address
           AND port = @Port
           AND generation = @Generation
           AND status = 6
           AND start_time = @StartTime
           AND i_am_alive_time = @IAmAliveTime
           AND coalesce(suspect_times, '') = coalesce(@SuspectTimes, '')
        """;

    // ---------------------------------------------------------------- reminders
    // The ETag of a reminder is its row version. grain_hash is the grain's uniform hash cast to a signed int by the
    // provider, which also picks ReadRangeRows1Key or ReadRangeRows2Key by comparing the bounds as signed ints.

    /// <summary>All reminders of one grain.</summary>
    public const string ReadReminderRowsKey = """
        SELECT grain_id      AS "GrainId",
               reminder_name AS "ReminderName",
               start_time    AS "StartTime",
               period_ms     AS "Period",
               version       AS "Version"
          FROM orleans_reminder
         WHERE service_id = @ServiceId
           AND grain_id = @GrainId
        """;

    /// <summary>Reminders whose grain hash is in (<c>@BeginHash</c>, <c>@EndHash</c>] when the range does not wrap.</summary>
    public const string ReadRangeRows1Key = """
        SELECT grain_id      AS "GrainId",
               reminder_name AS "ReminderName",
               start_time    AS "StartTime",
               period_ms     AS "Period",
               version       AS "Version"
          FROM orleans_reminder
         WHERE service_id = @ServiceId
           AND grain_hash > @BeginHash
           AND grain_hash <= @EndHash
        """;

    /// <summary>Reminders whose grain hash is above <c>@BeginHash</c> or at most <c>@EndHash</c>: a range that wraps (or the whole ring).</summary>
    public const string ReadRangeRows2Key = """
        SELECT grain_id      AS "GrainId",
               reminder_name AS "ReminderName",
               start_time    AS "StartTime",
               period_ms     AS "Period",
               version       AS "Version"
          FROM orleans_reminder
         WHERE service_id = @ServiceId
           AND (grain_hash > @BeginHash OR grain_hash <= @EndHash)
        """;

    /// <summary>One reminder of one grain, or no row.</summary>
    public const string ReadReminderRowKey = """
        SELECT grain_id      AS "GrainId",
               reminder_name AS "ReminderName",
               start_time    AS "StartTime",
               period_ms     AS "Period",
               version       AS "Version"
          FROM orleans_reminder
         WHERE service_id = @ServiceId
           AND grain_id = @GrainId
           AND reminder_name = @ReminderName
        """;

    /// <summary>Creates or replaces a reminder (no ETag check, as the provider expects); returns its new version.</summary>
    public const string UpsertReminderRowKey = """
        INSERT INTO orleans_reminder AS r (service_id, grain_id, reminder_name, grain_hash, start_time, period_ms, version)
        VALUES (@ServiceId, @GrainId, @ReminderName, @GrainHash, @StartTime, @Period, 1)
        ON CONFLICT (service_id, grain_id, reminder_name) DO UPDATE
           SET grain_hash = EXCLUDED.grain_hash,
               start_time = EXCLUDED.start_time,
               period_ms = EXCLUDED.period_ms,
               version = r.version + 1
        RETURNING r.version AS "Version"
        """;

    /// <summary>Deletes a reminder if its version is still <c>@Version</c>; returns whether it did.</summary>
    public const string DeleteReminderRowKey = """
        WITH removed AS (
            DELETE FROM orleans_reminder
             WHERE service_id = @ServiceId
               AND grain_id = @GrainId
               AND reminder_name = @ReminderName
               AND version = @Version
            RETURNING 1
        )
        SELECT EXISTS (SELECT 1 FROM removed)
        """;

    /// <summary>Deletes every reminder of the service (the provider uses it to clear the table in tests).</summary>
    public const string DeleteReminderRowsKey = """
        DELETE FROM orleans_reminder
         WHERE service_id = @ServiceId
        """;

    // ---------------------------------------------------------------- grain storage
    // A grain's row is found by its hashes (indexed) and then its full identity. The ETag is the row version.
    // Each write query returns exactly one row: the new version, or NULL when the ETag did not match; the provider
    // turns NULL into an InconsistentStateException. payload NULL means "cleared": the row keeps its version.

    /// <summary>The grain's payload and version, or no row.</summary>
    public const string ReadFromStorageKey = """
        SELECT s.payload AS "PayloadBinary",
               s.version AS "Version"
          FROM orleans_grain_state AS s
         WHERE s.grain_id_hash = @GrainIdHash
           AND s.grain_type_hash = @GrainTypeHash
           AND s.service_id = @ServiceId
           AND s.grain_type = @GrainTypeString
           AND s.grain_id_n0 = @GrainIdN0
           AND s.grain_id_n1 = @GrainIdN1
           AND s.grain_id_ext IS NOT DISTINCT FROM @GrainIdExtensionString
        """;

    /// <summary>
    /// Without an ETag (<c>@GrainStateVersion</c> NULL) inserts the first row, version 1, unless one exists; with one,
    /// replaces the payload if the version still matches. Returns the new version, or NULL on a conflict.
    /// </summary>
    public const string WriteToStorageKey = """
        WITH inserted AS (
            INSERT INTO orleans_grain_state
                (service_id, grain_type_hash, grain_type, grain_id_hash, grain_id_n0, grain_id_n1, grain_id_ext, payload, version, modified_at)
            SELECT @ServiceId, @GrainTypeHash, @GrainTypeString, @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainIdExtensionString, @PayloadBinary, 1, now()
             WHERE @GrainStateVersion IS NULL
            ON CONFLICT DO NOTHING
            RETURNING version
        ),
        updated AS (
            UPDATE orleans_grain_state AS s
               SET payload = @PayloadBinary,
                   version = s.version + 1,
                   modified_at = now()
             WHERE @GrainStateVersion IS NOT NULL
               AND s.grain_id_hash = @GrainIdHash
               AND s.grain_type_hash = @GrainTypeHash
               AND s.service_id = @ServiceId
               AND s.grain_type = @GrainTypeString
               AND s.grain_id_n0 = @GrainIdN0
               AND s.grain_id_n1 = @GrainIdN1
               AND s.grain_id_ext IS NOT DISTINCT FROM @GrainIdExtensionString
               AND s.version = @GrainStateVersion
            RETURNING s.version
        )
        SELECT (SELECT version FROM inserted
                UNION ALL
                SELECT version FROM updated
                LIMIT 1) AS "NewGrainStateVersion"
        """;

    /// <summary>Clears the payload if the version still matches, keeping the row; returns the new version, or NULL on a conflict.</summary>
    public const string ClearStorageKey = """
        WITH cleared AS (
            UPDATE orleans_grain_state AS s
               SET payload = NULL,
                   version = s.version + 1,
                   modified_at = now()
             WHERE s.grain_id_hash = @GrainIdHash
               AND s.grain_type_hash = @GrainTypeHash
               AND s.service_id = @ServiceId
               AND s.grain_type = @GrainTypeString
               AND s.grain_id_n0 = @GrainIdN0
               AND s.grain_id_n1 = @GrainIdN1
               AND s.grain_id_ext IS NOT DISTINCT FROM @GrainIdExtensionString
               AND s.version = @GrainStateVersion
            RETURNING s.version
        )
        SELECT (SELECT version FROM cleared) AS "NewGrainStateVersion"
        """;

    /// <summary>
    /// For <c>DeleteStateOnClear</c>: deletes the row if the version still matches; returns the deleted version + 1
    /// (the provider only checks it differs from the ETag), or NULL on a conflict.
    /// </summary>
    public const string DeleteStorageKey = """
        WITH deleted AS (
            DELETE FROM orleans_grain_state AS s
             WHERE s.grain_id_hash = @GrainIdHash
               AND s.grain_type_hash = @GrainTypeHash
               AND s.service_id = @ServiceId
               AND s.grain_type = @GrainTypeString
               AND s.grain_id_n0 = @GrainIdN0
               AND s.grain_id_n1 = @GrainIdN1
               AND s.grain_id_ext IS NOT DISTINCT FROM @GrainIdExtensionString
               AND s.version = @GrainStateVersion
            RETURNING s.version
        )
        SELECT (SELECT version + 1 FROM deleted) AS "NewGrainStateVersion"
        """;

    /// <summary>Every query by its key, as stored in <c>OrleansQuery</c>.</summary>
    public static IReadOnlyDictionary<string, string> All { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [nameof(GatewaysQueryKey)] = GatewaysQueryKey,
        [nameof(MembershipReadRowKey)] = MembershipReadRowKey,
        [nameof(MembershipReadAllKey)] = MembershipReadAllKey,
        [nameof(InsertMembershipVersionKey)] = InsertMembershipVersionKey,
        [nameof(InsertMembershipKey)] = InsertMembershipKey,
        [nameof(UpdateMembershipKey)] = UpdateMembershipKey,
        [nameof(UpdateIAmAlivetimeKey)] = UpdateIAmAlivetimeKey,
        [nameof(DeleteMembershipTableEntriesKey)] = DeleteMembershipTableEntriesKey,
        [nameof(CleanupDefunctSiloEntriesKey)] = CleanupDefunctSiloEntriesKey,
        [nameof(CleanupDefunctSiloEntryKey)] = CleanupDefunctSiloEntryKey,
        [nameof(ReadReminderRowsKey)] = ReadReminderRowsKey,
        [nameof(ReadRangeRows1Key)] = ReadRangeRows1Key,
        [nameof(ReadRangeRows2Key)] = ReadRangeRows2Key,
        [nameof(ReadReminderRowKey)] = ReadReminderRowKey,
        [nameof(UpsertReminderRowKey)] = UpsertReminderRowKey,
        [nameof(DeleteReminderRowKey)] = DeleteReminderRowKey,
        [nameof(DeleteReminderRowsKey)] = DeleteReminderRowsKey,
        [nameof(ReadFromStorageKey)] = ReadFromStorageKey,
        [nameof(WriteToStorageKey)] = WriteToStorageKey,
        [nameof(ClearStorageKey)] = ClearStorageKey,
        [nameof(DeleteStorageKey)] = DeleteStorageKey,
    };
}

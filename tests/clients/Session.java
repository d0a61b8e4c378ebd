// Session.java: pgjdbc's scripted session through a conmgr port (contract in README.md).
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.copy.CopyManager;

public final class Session {
    static final String BIG = "select g, repeat(md5(g::text), 30) from generate_series(1, 105000) g";
    static String url;

    public static void main(String[] args) throws Exception {
        String host = args[0], port = args[1], role = args[2], client = args[3];
        // PGUSER and PGPASSWORD as libpq reads them (the pooled matrix logs in as a SCRAM role).
        String user = System.getenv().getOrDefault("PGUSER", "postgres");
        String password = System.getenv("PGPASSWORD");
        url = "jdbc:postgresql://" + host + ":" + port + "/postgres?user=" + java.net.URLEncoder.encode(user, java.nio.charset.StandardCharsets.UTF_8)
            + (password == null ? "" : "&password=" + java.net.URLEncoder.encode(password, java.nio.charset.StandardCharsets.UTF_8))
            + "&connectTimeout=10&prepareThreshold=1";
        // TLS as libpq's environment asks (the TLS matrix sets PGSSLMODE and PGSSLROOTCERT; pgjdbc does not read them itself).
        if (System.getenv("PGSSLMODE") != null) {
            url += "&sslmode=" + System.getenv("PGSSLMODE") + "&sslrootcert=" + System.getenv("PGSSLROOTCERT");
        }
        boolean readWrite = role.equals("read-write");
        try (Connection conn = DriverManager.getConnection(url); Connection watcher = DriverManager.getConnection(url)) {
            step("query", "recovery=" + scalar(conn, "select pg_is_in_recovery()::text"));

            conn.setAutoCommit(false);
            if (readWrite) {
                insert(conn, client, 1, 2, 3);
                conn.rollback();
                insert(conn, client, 1, 2);
                conn.commit();
                step("transaction", "committed=" + scalar(conn, "select count(*) from client_matrix where client = '" + client + "'"));
            } else {
                scalar(conn, "select count(*) from client_matrix");
                String state = sqlState(() -> insert(conn, client, 1));
                conn.rollback();
                step("transaction", "write=" + state);
            }
            conn.setAutoCommit(true);

            // prepareThreshold=1: a named server-side statement from the first execution (Parse once, Bind/Execute each time).
            List<String> doubled = new ArrayList<>();
            try (PreparedStatement ps = conn.prepareStatement("select ?::int * 2")) {
                for (int v = 1; v <= 3; v++) {
                    ps.setInt(1, v);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        doubled.add(rs.getString(1));
                    }
                }
            }
            step("prepared", String.join(",", doubled));

            CopyManager copy = conn.unwrap(PGConnection.class).getCopyAPI();
            StringWriter out = new StringWriter();
            copy.copyOut("copy (select g from generate_series(1, 1000) g) to stdout", out);
            String[] lines = out.toString().split("\n");
            long sum = 0;
            for (String line : lines) sum += Long.parseLong(line);
            step("copy_out", "rows=" + lines.length + " sum=" + sum);

            StringBuilder rows = new StringBuilder();
            for (int i = 1001; i <= 2000; i++) rows.append(client).append('\t').append(i).append('\n');
            if (readWrite) {
                copy.copyIn("copy client_matrix from stdin", new StringReader(rows.toString()));
                step("copy_in", "rows=" + scalar(conn, "select count(*) from client_matrix where client = '" + client + "' and id > 1000"));
            } else {
                step("copy_in", "refused=" + sqlState(() -> copy.copyIn("copy client_matrix from stdin", new StringReader(rows.toString()))));
            }

            // Statement.cancel() from another thread, once the server reports the query running.
            String pid = scalar(conn, "select pg_backend_pid()");
            try (Statement sleeping = conn.createStatement()) {
                Thread canceller = new Thread(() -> {
                    try {
                        long deadline = System.nanoTime() + 30_000_000_000L;
                        while (System.nanoTime() < deadline) {
                            if (scalar(watcher, "select count(*) from pg_stat_activity where pid = " + pid + " and state = 'active' and query like 'select pg_sleep%'").equals("1")) {
                                sleeping.cancel();
                                return;
                            }
                            Thread.sleep(20);
                        }
                    } catch (Exception e) {
                        e.printStackTrace();
                    }
                });
                canceller.start();
                String state = sqlState(() -> sleeping.execute("select pg_sleep(30)"));
                canceller.join();
                step("cancel", scalar(conn, "select 1").equals("1") ? state : "session-lost");
            }

            // A cursor with a fetch size streams the rows instead of holding 100 MB (needs a transaction).
            conn.setAutoCommit(false);
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            long size = 0;
            try (Statement st = conn.createStatement()) {
                st.setFetchSize(5000);
                try (ResultSet rs = st.executeQuery(BIG)) {
                    while (rs.next()) {
                        byte[] row = (rs.getInt(1) + "|" + rs.getString(2) + "\n").getBytes(StandardCharsets.UTF_8);
                        size += row.length;
                        digest.update(row);
                    }
                }
            }
            conn.commit();
            conn.setAutoCommit(true);
            step("big", size + " " + HexFormat.of().formatHex(digest.digest()));

            if (readWrite) {
                try (Connection listener = DriverManager.getConnection(url)) {
                    scalarOrNothing(listener, "listen cm_" + client);
                    scalarOrNothing(watcher, "notify cm_" + client + ", 'hello'");
                    PGNotification[] received = listener.unwrap(PGConnection.class).getNotifications(30_000);
                    step("notify", received != null && received.length > 0 ? received[0].getParameter() : "none");
                }
            }
        }
    }

    interface Action { void run() throws Exception; }

    static String sqlState(Action action) throws Exception {
        try {
            action.run();
        } catch (SQLException e) {
            return e.getSQLState();
        }
        throw new IllegalStateException("expected an error, got none");
    }

    static void insert(Connection conn, String client, int... ids) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement("insert into client_matrix values (?, ?)")) {
            for (int id : ids) {
                ps.setString(1, client);
                ps.setInt(2, id);
                ps.executeUpdate();
            }
        }
    }

    static String scalar(Connection conn, String sql) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    static void scalarOrNothing(Connection conn, String sql) throws SQLException {
        try (Statement st = conn.createStatement()) {
            st.execute(sql);
        }
    }

    static void step(String name, String detail) {
        System.out.println("step " + name + " " + detail);
        System.out.flush();
    }
}

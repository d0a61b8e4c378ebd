// OneQuery.java: pgjdbc runs one query and prints "pgjdbc RESULT" (the TLS tests: java -cp postgresql.jar OneQuery.java URL SQL).
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;

public class OneQuery {
    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0]); ResultSet rs = conn.createStatement().executeQuery(args[1])) {
            rs.next();
            System.out.println("pgjdbc " + rs.getString(1));
        }
    }
}

// Login.java: pgjdbc logs in through a conmgr port over verified TLS, then prints current_user (preauth tests).
// usage: java -cp /usr/share/java/postgresql.jar Login.java HOST PORT USER SSLROOTCERT   (the password in PGPASSWORD)
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.Properties;

public final class Login {
    public static void main(String[] args) throws Exception {
        Properties properties = new Properties();
        properties.setProperty("user", args[2]);
        properties.setProperty("password", System.getenv("PGPASSWORD"));
        properties.setProperty("sslmode", "verify-full");
        properties.setProperty("sslrootcert", args[3]);
        properties.setProperty("connectTimeout", "10");
        try (Connection connection = DriverManager.getConnection("jdbc:postgresql://" + args[0] + ":" + args[1] + "/postgres", properties);
             ResultSet result = connection.createStatement().executeQuery("select current_user")) {
            result.next();
            System.out.println(result.getString(1));
        }
    }
}

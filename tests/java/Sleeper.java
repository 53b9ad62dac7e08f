// A JVM that does nothing for a minute: the target of tests/java_attach.rs.
public class Sleeper {
    public static void main(String[] args) throws Exception {
        System.out.println("ready");
        System.out.flush();
        Thread.sleep(60_000);
    }
}

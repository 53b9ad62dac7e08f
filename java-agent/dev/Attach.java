// DEVELOPMENT TOOL, not part of apitop (whose attach is written in Rust): loads the agent into a
// running JVM through the JDK's attach API, reporting the agent's failure if any.
//   java java-agent/dev/Attach.java PID /path/apitop-agent.jar 'sock=/tmp/x.sock,token=abc'
import com.sun.tools.attach.VirtualMachine;

public class Attach {
    public static void main(String[] a) throws Exception {
        VirtualMachine vm = VirtualMachine.attach(a[0]);
        try {
            long t0 = System.nanoTime();
            vm.loadAgent(a[1], a.length > 2 ? a[2] : "");
            System.out.printf("loaded in %.1f ms%n", (System.nanoTime() - t0) / 1e6);
        } finally {
            vm.detach();
        }
    }
}

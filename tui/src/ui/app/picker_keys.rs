//! Keys of the process picker: moving, marking, searching, attaching and detaching.
use crossterm::event::KeyEvent;

use super::*;

impl App {
    pub(super) fn picker_key(&mut self, action: Option<Action>, k: KeyEvent, fx: &mut Vec<Effect>) {
        let rows = self.picker_rows();
        let Some(p) = &mut self.picker else { return };
        match action {
            Some(Action::Up) => p.move_by(-1),
            Some(Action::Down) => p.move_by(1),
            Some(Action::PageUp) => p.move_by(-(rows.max(1) as isize)),
            Some(Action::PageDown) => p.move_by(rows.max(1) as isize),
            Some(Action::Mark) => {
                p.toggle_mark();
                p.move_by(1);
            }
            Some(Action::Refresh) => fx.push(Effect::RefreshProcesses),
            Some(Action::ClearInput) => {
                p.query.clear();
                p.refilter();
            }
            Some(Action::DeleteBack) => {
                p.query.pop();
                p.refilter();
            }
            Some(Action::Help) => self.help = Some((Mode::Picker, 0)),
            Some(Action::Close) if p.java_confirm.is_some() => {
                p.java_confirm = None;
                p.message = Some("no agent loaded".into());
            }
            Some(Action::Close) => {
                if !p.query.is_empty() {
                    p.query.clear();
                    p.refilter();
                } else {
                    self.picker = None;
                }
            }
            Some(Action::Detach) => {
                if let Some(pid) = p.current().map(|r| r.info.pid) {
                    if let Some(t) = self.targets.iter().position(|t| t.pid == pid) {
                        let t = self.targets.remove(t);
                        fx.push(Effect::Detach(pid));
                        p.message = Some(format!("detached from {} ({pid})", t.comm));
                    } else {
                        p.message = Some(format!("{pid} is not a target"));
                    }
                }
            }
            Some(Action::Attach) => self.attach_chosen(fx),
            _ => {
                if let Some(c) = typed(&k) {
                    p.query.push(c);
                    p.refilter();
                }
            }
        }
    }

    pub(super) fn attach_chosen(&mut self, fx: &mut Vec<Effect>) {
        let Some(p) = &mut self.picker else { return };
        let chosen: Vec<ProcessRow> = p.chosen().into_iter().cloned().collect();
        if chosen.is_empty() {
            p.message = Some("no process to attach to".into());
            return;
        }
        let mut pids = Vec::new();
        let mut notes = Vec::new();
        for row in &chosen {
            let info = &row.info;
            notes.push(picker::expectation(info));
            if info.tls.capturable && !self.targets.iter().any(|t| t.pid == info.pid) {
                pids.push(info.pid);
            }
        }
        if pids.is_empty() {
            // Nothing capturable: stay in the picker and say why.
            p.message = Some(notes.join("; "));
            return;
        }
        // Loading code into a JVM is intrusive: a JVM among the chosen asks for a second Enter.
        let jvms: Vec<u32> = chosen
            .iter()
            .filter(|r| pids.contains(&r.info.pid) && r.info.tls.java.is_some())
            .map(|r| r.info.pid)
            .collect();
        if !jvms.is_empty() && p.java_confirm.as_ref() != Some(&jvms) {
            let names: Vec<String> = chosen
                .iter()
                .filter(|r| jvms.contains(&r.info.pid))
                .map(|r| format!("{} ({})", r.info.comm, r.info.pid))
                .collect();
            p.message = Some(format!(
                "{} {}: capturing its TLS loads apitop's Java agent into it (it stays loaded, idle once apitop exits). Enter again to load it, Esc to go back",
                names.join(", "),
                if jvms.len() == 1 { "is a JVM" } else { "are JVMs" }
            ));
            p.java_confirm = Some(jvms);
            return;
        }
        p.java_confirm = None;
        for row in chosen.iter().filter(|r| pids.contains(&r.info.pid)) {
            self.targets.push(Target {
                pid: row.info.pid,
                comm: row.info.comm.clone(),
                alive: true,
            });
        }
        self.picker = None;
        self.notify(notes.join("; "), false);
        fx.push(Effect::Attach(pids));
        if !jvms.is_empty() {
            fx.push(Effect::AttachJava(jvms));
        }
    }

    /// Picker list rows: the screen less status bar, borders, search, header and footer.
    pub(super) fn picker_rows(&self) -> usize {
        usize::from(self.size.height.saturating_sub(8))
    }

    // ----- read access for views and tests
}

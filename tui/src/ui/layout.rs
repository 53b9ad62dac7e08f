//! Where each pane goes. Shared by rendering and by `App::handle` (which needs page sizes and
//! scroll windows), so both agree on every height.
use ratatui::layout::Rect;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    List,
    Detail,
    Tree,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Panes {
    pub show_tree: bool,
    pub show_detail: bool,
    /// Tree width, percent of the main area.
    pub tree_pct: u16,
    /// List height, percent of the right column when the detail is shown.
    pub list_pct: u16,
    /// The detail fills the main area (after `Enter`).
    pub zoom_detail: bool,
}

impl Default for Panes {
    fn default() -> Self {
        Panes {
            show_tree: true,
            show_detail: true,
            tree_pct: 30,
            list_pct: 55,
            zoom_detail: false,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Areas {
    pub tree: Option<Rect>,
    pub list: Option<Rect>,
    pub detail: Option<Rect>,
    /// The filter bar (also shows the drill-down and notices).
    pub bar: Option<Rect>,
    pub status: Rect,
}

/// Below these the tree and the detail give way to the list.
const MIN_WIDTH_FOR_TREE: u16 = 70;
const MIN_HEIGHT_FOR_DETAIL: u16 = 14;

pub fn areas(size: Rect, panes: &Panes, bar: bool) -> Areas {
    let status = Rect {
        y: size.y + size.height.saturating_sub(1),
        height: size.height.min(1),
        ..size
    };
    let mut main = Rect {
        height: size.height.saturating_sub(1),
        ..size
    };
    let bar = if bar && main.height > 2 {
        main.height -= 1;
        Some(Rect {
            y: main.y + main.height,
            height: 1,
            ..main
        })
    } else {
        None
    };
    if panes.zoom_detail {
        return Areas {
            detail: Some(main),
            bar,
            status,
            ..Areas::default()
        };
    }
    let (tree, right) = if panes.show_tree && main.width >= MIN_WIDTH_FOR_TREE {
        let w = (u32::from(main.width) * u32::from(panes.tree_pct) / 100) as u16;
        (
            Some(Rect { width: w, ..main }),
            Rect {
                x: main.x + w,
                width: main.width - w,
                ..main
            },
        )
    } else {
        (None, main)
    };
    let (list, detail) = if panes.show_detail && right.height >= MIN_HEIGHT_FOR_DETAIL {
        let h = (u32::from(right.height) * u32::from(panes.list_pct) / 100) as u16;
        (
            Rect { height: h, ..right },
            Some(Rect {
                y: right.y + h,
                height: right.height - h,
                ..right
            }),
        )
    } else {
        (right, None)
    };
    Areas {
        tree,
        list: Some(list),
        detail,
        bar,
        status,
    }
}

/// Rows inside a bordered pane (minus `header` rows).
pub fn inner_rows(r: Option<Rect>, header: u16) -> usize {
    r.map_or(0, |r| usize::from(r.height.saturating_sub(2 + header)))
}

/// The first row to show so that `sel` is visible, moving the window as little as possible.
pub fn scroll(offset: usize, sel: usize, rows: usize, len: usize) -> usize {
    if rows == 0 {
        return sel;
    }
    let mut off = offset.min(len.saturating_sub(rows));
    if sel < off {
        off = sel;
    } else if sel >= off + rows {
        off = sel + 1 - rows;
    }
    off
}

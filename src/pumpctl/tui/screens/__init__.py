"""Modal dialogs and full screens of the programmer."""

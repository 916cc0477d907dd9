// The page (being written).
export function mount(root) {
  root.textContent = 'natter';
}
